"""Sync benchmark: a full sync of a big sandbox shop, then an incremental one.

The sandbox runs in its own process (with injected latency per answer — each answer
leaves that long after its request came in, rendering included — and its handler
threads handing the interpreter lock over every millisecond: ``serve_in_this_process``
in bridge/sandbox/server.py says why); each sync runs
as ``python -m bridge --json sync`` in another process, so its wall time and peak
memory (``ru_maxrss`` from ``wait4``) are the sync's alone.

Figures printed:
- full sync wall time; list requests per entity against the minimum ⌈count ÷ page size⌉
  (target: at most one more per entity);
- wall time against the network-bound ideal, requests × latency ÷ concurrency
  (target: at most 1.5 ×);
- incremental sync after 1 % of the customers changed: its requests against the full
  sync's (target: at most 2 %);
- peak memory of the full sync (target: under 500 MB).

Default run (the issue's figures)::

    .venv/bin/python bench/sync_bench.py

Smaller, quicker: ``--customers 10000 --orders-per-customer 4``.

``--replay``: the sandbox answers through a caching proxy (``replay_proxy.py``) that a
warm-up sync fills; the measured sync then gets the same answers, after the same
latency, without the sandbox rendering each page on this machine's cores meanwhile —
the sync's own speed, as against a store on another machine. The incremental part is
skipped then (a cache cannot see the shop change).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchinfo import machine
from bigshop import build_server, segbridge_cpu

REPO = Path(__file__).resolve().parent.parent


def _sandbox_main(conn: Any, opts: dict[str, Any]) -> None:
    """The sandbox process: build the shop, serve it, answer commands on ``conn``."""
    server, started = build_server(opts)
    shop = server.shop

    def counts() -> dict[str, int]:
        with shop.lock:
            return {
                "customers": len(shop.customers.ids),
                "orders": len(shop.orders.ids),
                "active_carts": sum(1 for q in shop.carts.values()
                                    if q.is_active and q.customer_id is not None),
            }

    conn.send({"base_url": server.base_url, "build_s": time.monotonic() - started,
               **counts()})
    while True:
        cmd, arg = conn.recv()
        if cmd == "cpu":
            conn.send(time.process_time())
        elif cmd == "touch":
            changed = shop.touch(customers=arg, seed=99)
            conn.send(len(changed["customers"]))
        elif cmd == "stop":
            server.close()
            conn.send("stopped")
            return


def _run_sync(config: Path, full: bool) -> tuple[dict[str, Any], float, float, float]:
    """(result JSON, wall s, cpu s, peak RSS MB) of one ``segbridge sync`` process."""
    out, wall, rss, cpu = segbridge_cpu(config, "sync", *(["--full"] if full else []))
    return out, wall, cpu, rss


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders-per-customer", type=float, default=4.0)  # ≈ 400,000 orders
    p.add_argument("--active-carts", type=float, default=0.25)  # 25,000 active carts
    p.add_argument("--latency", type=float, default=0.020)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--store", default=None, help="store URL (default: a new SQLite file)")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file")
    p.add_argument("--replay", action="store_true",
                   help="measure through a caching proxy filled by a warm-up sync")
    args = p.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="segbridge-bench-"))
    store = args.store or f"sqlite:///{workdir / 'bench.db'}"
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    opts = {"customers": args.customers, "seed": args.seed,
            "orders_per_customer": args.orders_per_customer,
            "active_carts": args.active_carts,
            "latency": 0.0 if args.replay else args.latency}
    sandbox = ctx.Process(target=_sandbox_main, args=(child, opts), daemon=True)
    sandbox.start()
    print(f"building the sandbox shop ({args.customers:,} customers) …", flush=True)
    info = parent.recv()
    print(f"sandbox ready in {info['build_s']:.0f} s: {info['customers']:,} customers, "
          f"{info['orders']:,} orders, {info['active_carts']:,} active carts of customers, "
          f"{args.latency * 1000:.0f} ms latency per answer", flush=True)

    base_url = info["base_url"]
    proxy = proxy_conn = None
    if args.replay:
        import replay_proxy

        proxy_conn, child_conn = ctx.Pipe()
        floor = (datetime.now(UTC) - timedelta(days=4 * 365)).strftime("%Y-%m-%d %H:%M:%S")
        up = urlsplit(base_url)
        proxy = ctx.Process(target=replay_proxy.serve, daemon=True,
                            args=((up.hostname, up.port), args.latency, child_conn, floor))
        proxy.start()
        base_url = f"http://127.0.0.1:{proxy_conn.recv()}"

    def write_config(path: Path, url: str) -> Path:
        path.write_text(
            f'[magento]\nbase_url = "{base_url}"\npage_size = {args.page_size}\n'
            f"concurrency = {args.concurrency}\ntimeout_s = 120\n\n"
            f'[store]\nurl = "{url}"\n\n[sync]\nsince = "3650d"\n'
        )
        return path

    config = write_config(workdir / "segbridge.toml", store)
    replay_stats = None
    if proxy_conn is not None:
        print("warm-up sync through the caching proxy …", flush=True)
        warm = write_config(workdir / "warm.toml", f"sqlite:///{workdir / 'warm.db'}")
        _run_sync(warm, full=False)
        for f in workdir.glob("warm.db*"):
            f.unlink()
        proxy_conn.send(("reset", None))
        proxy_conn.recv()
    def sandbox_cpu() -> float:
        parent.send(("cpu", None))
        return float(parent.recv())

    try:
        load0 = os.getloadavg()[0]
        s0 = sandbox_cpu()
        full, wall, cpu, rss = _run_sync(config, full=False)
        s_cpu = sandbox_cpu() - s0
        load1 = os.getloadavg()[0]
        inc = None
        if proxy_conn is not None:
            proxy_conn.send(("stats", None))
            replay_stats = proxy_conn.recv()
        else:
            parent.send(("touch", 0.01))
            inc_touched = parent.recv()
            time.sleep(1.1)
            s0 = sandbox_cpu()
            inc, inc_wall, inc_cpu, inc_rss = _run_sync(config, full=False)
            inc_s_cpu = sandbox_cpu() - s0
    finally:
        if proxy_conn is not None and proxy is not None:
            proxy_conn.send(("stop", None))
            proxy.join(timeout=30)
        parent.send(("stop", None))
        try:
            parent.recv()
        except EOFError:
            pass
        sandbox.join(timeout=30)

    ps = args.page_size
    print()
    print("full sync (first run: every customer, every order and active cart of 10 years)")
    print(f"  status {full['status']}, wall {wall:.1f} s, CPU {cpu:.1f} s, "
          f"peak memory {rss:.0f} MB (target < 500 MB)")
    print(f"  {'entity':<10} {'records':>9} {'list req':>9} {'minimum':>8} {'extra':>6}  "
          f"{'other req':>9}")
    ok_requests = True
    for name in ("customers", "orders", "carts", "groups"):
        e = full["entities"].get(name)
        if not e:
            continue
        total = e["total"] or 0
        minimum = max(1, math.ceil(total / ps)) if name != "groups" else e["list_requests"]
        extra = e["list_requests"] - minimum
        ok_requests &= extra <= 1
        print(f"  {name:<10} {total:>9,} {e['list_requests']:>9,} {minimum:>8,} {extra:>+6}  "
              f"{e['other_requests']:>9,}")
    requests = full["requests"]
    ideal = requests * args.latency / args.concurrency
    print(f"  all requests {requests:,} (incl. websites/stores); retries {full['retries']}")
    print(f"  network-bound ideal = {requests:,} × {args.latency * 1000:.0f} ms ÷ "
          f"{args.concurrency} = {ideal:.1f} s; wall ÷ ideal = {wall / ideal:.2f} "
          f"(target ≤ 1.50)")
    print(f"  requests within minimum + 1 per entity: {'yes' if ok_requests else 'NO'}")
    print(f"  CPU: sync {cpu:.1f} s, sandbox {s_cpu:.1f} s (each one process; "
          f"{os.cpu_count()} CPUs; load average {load0:.1f} before, {load1:.1f} after)")
    fetched = sum(full["entities"][n]["fetched"] for n in ("customers", "orders", "carts")
                  if n in full["entities"])
    orders = full["entities"].get("orders", {}).get("fetched") or 0
    if fetched:
        print(f"  sync CPU per record fetched: {cpu / fetched * 1e6:.0f} µs "
              f"({fetched:,} customers + orders + carts)"
              + (f"; per order (all CPU ÷ orders): {cpu / orders * 1e6:.0f} µs" if orders else ""))
    if replay_stats is not None:
        hits, misses = replay_stats
        print(f"  replay: {hits:,} answers from the proxy's cache, {misses:,} from the sandbox "
              "(the sandbox's CPU above is its share of those)")
    print()
    if inc is None:
        print("incremental sync: not measured with --replay")
    else:
        share = inc["requests"] / requests * 100
        pct = inc_touched / info["customers"]
        print(f"incremental sync after {inc_touched:,} customers ({pct:.1%}) changed")
        print(f"  status {inc['status']}, wall {inc_wall:.1f} s, CPU {inc_cpu:.1f} s "
              f"(sandbox {inc_s_cpu:.1f} s), peak memory {inc_rss:.0f} MB")
        for name in ("customers", "orders", "carts"):
            e = inc["entities"][name]
            print(f"  {name:<10} fetched {e['fetched']:>7,}  "
                  f"list requests {e['list_requests']:>5,}")
        print(f"  requests {inc['requests']:,} = {share:.2f} % of the full sync's "
              "(target ≤ 2 %)")
    print()
    print(f"machine: {machine()}")
    print(f"store: {store.split('://')[0]}; page size {ps}; concurrency {args.concurrency}")
    print("reproduce: " + " ".join(shlex.quote(a) for a in [
        ".venv/bin/python", "bench/sync_bench.py", *sys.argv[1:]]))
    if not args.keep and not args.store:
        for f in workdir.glob("bench.db*"):
            f.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
