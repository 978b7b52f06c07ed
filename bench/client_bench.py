"""Customers per second pulled through MagentoClient from the sandbox with injected latency.

The sandbox runs in its own process (so it does not share our GIL) and sleeps
``--latency`` seconds before every answer, like a store far away. The ideal time for a
pull is requests × latency ÷ concurrency; the client should reach at least 80 % of it.

    .venv/bin/python bench/client_bench.py                # 10,000 customers, 50 ms, c=1 and 4
    .venv/bin/python bench/client_bench.py --latency 0 --concurrency 1 2 4 8
    .venv/bin/python bench/client_bench.py --faults 0.1    # full pulls with 10 % faults

With ``--faults RATE`` it instead pulls every customer once per fault kind with that
share of requests faulted, and checks each pull returned every customer exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchinfo import machine  # noqa: E402

from bridge.config import MagentoConfig  # noqa: E402
from bridge.magento.auth import TokenAuth  # noqa: E402
from bridge.magento.client import MagentoClient  # noqa: E402


def _serve(queue: Any, stop: Any, customers: int, latency: float, seed: int) -> None:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=customers, seed=seed, orders_per_customer=0,
                       active_carts=0, latency_s=latency) as sandbox:
        queue.put((sandbox.base_url, sandbox.token,
                   sandbox.admin_username, sandbox.admin_password))
        stop.wait()


def _settings(base_url: str, **values: Any) -> None:
    import requests

    requests.post(f"{base_url}/__sandbox/settings", json=values, timeout=10).raise_for_status()


def _control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    import requests

    r = requests.request(method, f"{base_url}/__sandbox/{path}", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def pull(base_url: str, token: str, page_size: int, concurrency: int,
         auth: Any = None, policy: Any = None) -> dict[str, Any]:
    cfg = MagentoConfig(base_url=base_url, store_code="default", page_size=page_size,
                        concurrency=concurrency, timeout_s=60)
    client = MagentoClient(cfg, auth=auth or TokenAuth(token), policy=policy)
    if callable(getattr(client.auth, "bind", None)):
        client.auth = client.auth.bind(client)
    with client:
        start = time.perf_counter()
        n = 0
        seen: set[int] = set()
        for customer in client.search_customers():
            n += 1
            seen.add(customer["id"])
        elapsed = time.perf_counter() - start
        stats = client.stats.snapshot()
    return {"customers": n, "unique": len(seen), "elapsed": elapsed,
            "requests": stats["requests"], "retries": stats["retries"],
            "refreshes": stats["auth_refreshes"]}


class _Admin:
    """Admin-token auth bound to the client that will use it (its token fetcher)."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def bind(self, client: MagentoClient) -> Any:
        from bridge.magento.auth import AdminTokenAuth

        return AdminTokenAuth(self.user, self.password, client._admin_token)


def fault_runs(args: argparse.Namespace, base_url: str, token: str, admin_user: str,
               admin_pw: str) -> int:
    from bridge.magento.retry import RetryPolicy

    rate = args.faults
    kinds: list[tuple[str, dict[str, Any], bool]] = [
        ("429 + Retry-After: 1", {"rate_429": rate}, False),
        ("429 + Retry-After date", {"rate_429": rate, "retry_after_date": True}, False),
        ("HTML 503 maintenance", {"rate_503": rate}, False),
        ("masked 500", {"rate_500": rate}, False),
        ("dropped connection", {"rate_drop": rate}, False),
        ("lost answer", {"rate_lost_answer": rate}, False),
        (f"admin token dies after {round(1 / rate)} uses (401s)",
         {"token_ttl_requests": round(1 / rate)}, True),
    ]
    # Real retry limits; backoff waits shortened (Retry-After is still honoured as sent).
    policy = RetryPolicy(base_s=0.01, max_s=0.1, maintenance_base_s=0.05,
                         maintenance_max_s=0.5)
    _control(base_url, "POST", "settings", {"latency_s": args.latency})
    print(f"client_bench --faults: pull {args.customers:,} customers, page size "
          f"{args.page_size}, concurrency {max(args.concurrency)}, {rate:.0%} of requests "
          f"faulted, {args.latency * 1000:.0f} ms latency")
    print(f"{'fault':<36} {'customers':>9} {'unique':>7} {'faults':>6} {'requests':>8} "
          f"{'retries':>7} {'seconds':>7}  result")
    ok = True
    for seed, (name, faults, admin) in enumerate(kinds, start=1):
        _control(base_url, "POST", "faults", {**faults, "seed": seed})
        _control(base_url, "POST", "stats/reset")
        auth = _Admin(admin_user, admin_pw) if admin else None
        r = pull(base_url, token, args.page_size, max(args.concurrency), auth, policy)
        st = _control(base_url, "GET", "stats")
        injected = sum(st["faults"].values()) if not admin else r["refreshes"]
        good = r["customers"] == r["unique"] == args.customers
        ok = ok and good
        print(f"{name:<36} {r['customers']:>9} {r['unique']:>7} {injected:>6} "
              f"{st['routes'].get('GET /V1/customers/search', 0):>8} {r['retries']:>7} "
              f"{r['elapsed']:>7.2f}  {'every customer exactly once' if good else 'WRONG'}")
    _control(base_url, "POST", "faults", {})
    print("reproduce: " + " ".join(shlex.quote(a) for a in
                                   [".venv/bin/python", "bench/client_bench.py", *sys.argv[1:]]))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--runs", type=int, default=3, help="best of N runs per concurrency")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", type=float, default=0.0,
                    help="instead: full pulls with this share of requests faulted, per kind")
    args = ap.parse_args(argv)

    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, daemon=True,
                         args=(queue, stop, args.customers, args.latency, args.seed))
    server.start()
    try:
        base_url, token, admin_user, admin_pw = queue.get(timeout=120)
        if args.faults:
            return fault_runs(args, base_url, token, admin_user, admin_pw)
        pull(base_url, token, args.page_size, 4)  # warm up: connections, caches
        # Diagnostic: what one request costs without the injected latency (sandbox work,
        # loopback, JSON both ends), so the gap to the ideal can be read.
        _settings(base_url, latency_s=0.0)
        bare = min((pull(base_url, token, args.page_size, 1) for _ in range(args.runs)),
                   key=lambda r: r["elapsed"])
        _settings(base_url, latency_s=args.latency)
        rows = []
        for c in args.concurrency:
            best = min((pull(base_url, token, args.page_size, c) for _ in range(args.runs)),
                       key=lambda r: r["elapsed"])
            if best["customers"] != args.customers or best["unique"] != args.customers:
                print(f"ERROR: pulled {best['customers']} ({best['unique']} unique) of "
                      f"{args.customers}", file=sys.stderr)
                return 1
            ideal = best["requests"] * args.latency / c
            best.update(concurrency=c, ideal=ideal)
            rows.append(best)
    finally:
        stop.set()
        server.join(timeout=10)

    print(f"client_bench: pull {args.customers:,} customers, page size {args.page_size}, "
          f"{args.latency * 1000:.0f} ms latency per request (sandbox in its own process), "
          f"best of {args.runs}")
    print(f"{'conc':>4} {'requests':>8} {'retries':>7} {'seconds':>8} {'cust/s':>9} "
          f"{'ideal s':>8} {'ideal cust/s':>12} {'of ideal':>8}")
    ok = True
    for r in rows:
        share = r["ideal"] / r["elapsed"] if r["ideal"] else float("nan")
        ideal_rate = r["customers"] / r["ideal"] if r["ideal"] else float("inf")
        print(f"{r['concurrency']:>4} {r['requests']:>8} {r['retries']:>7} {r['elapsed']:>8.3f} "
              f"{r['customers'] / r['elapsed']:>9.0f} {r['ideal']:>8.3f} {ideal_rate:>12.0f} "
              f"{share:>8.1%}")
        if r["ideal"] and share < 0.8:
            ok = False
    per_request = bare["elapsed"] / bare["requests"] * 1000
    print(f"without the latency one request costs {per_request:.1f} ms end to end at "
          f"concurrency 1 (sandbox + loopback + JSON); the sequential first page caps "
          f"concurrency c at (1 + ceil((pages - 1) / c)) rounds")
    load = os.getloadavg()
    print(f"machine: {machine()}; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other work on the machine skews this)")
    print("target: at least 80 % of ideal at every concurrency: " + ("MET" if ok else "NOT MET"))
    given = argv if argv is not None else sys.argv[1:]
    command = [".venv/bin/python", "bench/client_bench.py", *given]
    print("reproduce: " + " ".join(shlex.quote(a) for a in command))
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
