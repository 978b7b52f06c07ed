"""Push benchmark: N customer group changes against the sandbox with a fixed latency.

Two paths, each a whole ``push`` (plan, journal, writes) over real HTTP:

- with the storefront module (``module.use = "on"``): every change goes through
  ``POST /V1/segbridge/groupAssignments``, 1,000 a request (target ≤ 0.01 requests per
  change);
- without it (the sandbox serves no module routes): one fresh GET and one PUT per change,
  at each ``--concurrency`` (``magento.write_concurrency``; 1 is the default). At 20 ms a
  request that is over 400 s for 10,000 changes, so by default this path is measured on
  ``--per-customer-changes`` (1,000) and its wall time extrapolated per change to
  ``--changes``; the output says so.

For each it reports the requests per change, the wall time, and the ideal wall time =
requests × latency ÷ concurrency (what a client with zero overhead would take), then the
speed-up of the module path over the per-customer one (target ≥ 50×), plus the machine.

    .venv/bin/python bench/push_bench.py                      # 10,000 changes, 20 ms
    .venv/bin/python bench/push_bench.py --per-customer-changes 10000   # measure, no estimate
    .venv/bin/python bench/push_bench.py --changes 2000 --concurrency 4 --paths per-customer
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchinfo import machine  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bridge.config import parse_config  # noqa: E402
from bridge.magento.client import MagentoClient  # noqa: E402
from bridge.push.service import push_once  # noqa: E402
from bridge.sandbox.server import SandboxServer  # noqa: E402
from bridge.segments.evaluate import evaluate  # noqa: E402
from bridge.segments.loader import load_segments  # noqa: E402
from bridge.store.engine import open_store  # noqa: E402
from bridge.sync.runner import run_sync  # noqa: E402
from bridge.timeutil import utcnow  # noqa: E402

SEGMENT = """\
code = "bench"
name = "Everyone (bench)"
priority = 1

[conditions]
match = "all"
value = true

[[conditions.rules]]
attribute = "customer.email"
operator = "{}"
value = "@"

[group]
code = "Bench"
"""


def one_run(changes: int, latency_s: float, concurrency: int, store_url: str | None,
            module: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    mdir = tmp / "mappings"
    mdir.mkdir()
    (mdir / "bench.toml").write_text(SEGMENT)
    os.environ["PUSH_BENCH_TOKEN"] = "sandbox-token"
    customers = math.ceil(changes / 0.88) + 100  # the generator puts ~90 % in General
    with SandboxServer(customers=customers, seed=11, orders_per_customer=0.3,
                       active_carts=0.0, module=module) as sb:
        url = store_url or f"sqlite:///{tmp / 'store.db'}"
        cfg = parse_config({
            "magento": {"base_url": sb.base_url, "page_size": 300, "concurrency": 4,
                        "write_concurrency": concurrency,
                        "auth": {"method": "token", "token_env": "PUSH_BENCH_TOKEN"}},
            "store": {"url": url},
            "sync": {"since": "3650d"},
            "push": {"max_changes": changes * 2},
            "module": {"use": "on" if module else "auto"},
            "mappings": {"dir": str(mdir)},
        }, tmp / "segbridge.toml")
        engine = open_store(cfg.store.url)
        segments = load_segments(cfg.mappings.dir, cfg)
        with MagentoClient(cfg.magento, read_only=True) as c:
            run_sync(cfg, engine, client=c)
        evaluate(engine, segments, utcnow(), config=cfg)
        with engine.begin() as conn:  # exactly `changes` members, all in General
            keep = [r[0] for r in conn.execute(text(
                "select m.customer_id from segment_members m join customers c "
                "on c.id = m.customer_id where c.group_id = 1 order by m.customer_id"))][:changes]
            if len(keep) < changes:
                raise SystemExit(f"only {len(keep)} General customers; raise customers")
            conn.execute(text("delete from segment_members where customer_id > :last"),
                         {"last": keep[-1]})
            conn.execute(text(
                "delete from segment_members where customer_id in "
                "(select id from customers where group_id <> 1)"))
        sb.latency_s = latency_s
        sb.stats.reset()
        client = MagentoClient(cfg.magento)
        start = time.perf_counter()
        result = push_once(engine, cfg, segments, client, force=True)
        wall = time.perf_counter() - start
        client.close()
        routes = sb.stats.snapshot()["routes"]
        engine.dispose()
    puts = routes.get("PUT /V1/customers/{customerId}", 0)
    gets = routes.get("GET /V1/customers/{customerId}", 0)
    bulk = routes.get("POST /V1/segbridge/groupAssignments", 0)
    moved = result.states.get("done", 0) - result.created.get("group", 0)
    if result.refused or moved != changes:
        raise SystemExit(f"the push moved {moved} of {changes} customers "
                         f"({len(result.refused)} refused): not a valid run")
    total = sum(routes.values())
    ideal = total * latency_s / concurrency
    return {
        "path": "module" if module else "per-customer",
        "concurrency": concurrency,
        "changes": moved,
        "requests": total,
        "per_change": (gets + puts + bulk) / max(1, moved),
        "per_change_all": total / max(1, moved),
        "wall": wall,
        "ideal": ideal,
        "efficiency": ideal / wall if wall else 0.0,
        "changes_per_s": moved / wall if wall else 0.0,
    }


def _row(r: dict, label: str) -> str:
    return (f"{label:<24} {r['concurrency']:>4} {r['changes']:>8} {r['requests']:>9} "
            f"{r['per_change']:>10.4f} {r['per_change_all']:>7.4f} {r['wall']:>9.2f} "
            f"{r['ideal']:>8.2f} {r['efficiency']:>10.1%} {r['changes_per_s']:>9.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=10_000)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1],
                   help="write concurrencies of the per-customer path (default 1, the "
                        "config's default)")
    p.add_argument("--per-customer-changes", type=int, default=1000,
                   help="changes the per-customer path is measured on, then extrapolated "
                        "per change to --changes (default 1000)")
    p.add_argument("--paths", nargs="+", choices=["module", "per-customer"],
                   default=["module", "per-customer"])
    p.add_argument("--store", default=None, help="store URL (default: a temporary SQLite file)")
    args = p.parse_args()
    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python bench/push_bench.py {shlex.join(sys.argv[1:])}".rstrip())
    print(f"sandbox latency {args.latency_ms:g} ms per request, {args.changes} group changes")
    print(f"{'path':<24} {'conc':>4} {'changes':>8} {'requests':>9} {'req/change':>10} "
          f"{'(all)':>7} {'wall s':>9} {'ideal s':>8} {'ideal/wall':>10} {'changes/s':>9}")
    latency = args.latency_ms / 1000.0
    module_wall = None
    if "module" in args.paths:
        r = one_run(args.changes, latency, 1, args.store, module=True)
        module_wall = r["wall"]
        print(_row(r, "module (bulk route)"), flush=True)
    per_customer = []
    if "per-customer" in args.paths:
        n = min(args.changes, args.per_customer_changes)
        for c in args.concurrency:
            r = one_run(n, latency, c, args.store)
            print(_row(r, "per-customer GET+PUT"), flush=True)
            est = r["wall"] / r["changes"] * args.changes
            if n < args.changes:
                print(f"{'  extrapolated':<24} {c:>4} {args.changes:>8} "
                      f"{round(r['requests'] / r['changes'] * args.changes):>9} "
                      f"{r['per_change']:>10.4f} {r['per_change_all']:>7.4f} {est:>9.2f}"
                      f"   (measured on {n} changes, wall time per change × {args.changes})",
                      flush=True)
            per_customer.append((c, est))
    print("req/change: customer GETs + PUTs, or bulk requests, per change; (all): every "
          "request of the push (group list, group create, module info) per change; "
          "ideal = requests × latency ÷ concurrency")
    for c, est in per_customer:
        if module_wall:
            print(f"speed-up of the module path over the per-customer path at write "
                  f"concurrency {c}: {est / module_wall:.0f}× for {args.changes} changes "
                  f"({est:.1f} s / {module_wall:.2f} s)")


if __name__ == "__main__":
    main()
