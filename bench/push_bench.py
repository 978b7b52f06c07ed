"""Push benchmark: N customer group changes against the sandbox with a fixed latency.

For each write concurrency it reports the requests per change (target ≤ 2: one fresh
GET and one PUT), the wall time, and the ideal wall time = requests × latency ÷
concurrency (what a client with zero overhead would take), plus the machine.

    .venv/bin/python bench/push_bench.py                      # 10,000 changes, 20 ms, c=1 and 4
    .venv/bin/python bench/push_bench.py --changes 2000 --concurrency 4
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


def one_run(changes: int, latency_s: float, concurrency: int, store_url: str | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    mdir = tmp / "mappings"
    mdir.mkdir()
    (mdir / "bench.toml").write_text(SEGMENT)
    os.environ["PUSH_BENCH_TOKEN"] = "sandbox-token"
    customers = math.ceil(changes / 0.88) + 100  # the generator puts ~90 % in General
    with SandboxServer(customers=customers, seed=11, orders_per_customer=0.3,
                       active_carts=0.0) as sb:
        url = store_url or f"sqlite:///{tmp / 'store.db'}"
        cfg = parse_config({
            "magento": {"base_url": sb.base_url, "page_size": 300, "concurrency": 4,
                        "write_concurrency": concurrency,
                        "auth": {"method": "token", "token_env": "PUSH_BENCH_TOKEN"}},
            "store": {"url": url},
            "sync": {"since": "3650d"},
            "push": {"max_changes": changes * 2},
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
    total = sum(routes.values())
    ideal = total * latency_s / concurrency
    return {
        "concurrency": concurrency,
        "changes": puts,
        "done": result.states.get("done", 0),
        "requests": total,
        "per_change": (gets + puts) / max(1, puts),
        "per_change_all": total / max(1, puts),
        "wall": wall,
        "ideal": ideal,
        "efficiency": ideal / wall if wall else 0.0,
        "changes_per_s": puts / wall if wall else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=10_000)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    p.add_argument("--store", default=None, help="store URL (default: a temporary SQLite file)")
    args = p.parse_args()
    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python bench/push_bench.py {shlex.join(sys.argv[1:])}".rstrip())
    print(f"sandbox latency {args.latency_ms:g} ms per request, {args.changes} group changes")
    print(f"{'conc':>4} {'changes':>8} {'requests':>9} {'req/change':>10} {'(all)':>6} "
          f"{'wall s':>8} {'ideal s':>8} {'ideal/wall':>10} {'changes/s':>9}")
    for c in args.concurrency:
        r = one_run(args.changes, args.latency_ms / 1000.0, c, args.store)
        print(f"{r['concurrency']:>4} {r['changes']:>8} {r['requests']:>9} "
              f"{r['per_change']:>10.3f} {r['per_change_all']:>6.3f} {r['wall']:>8.1f} "
              f"{r['ideal']:>8.1f} {r['efficiency']:>10.1%} {r['changes_per_s']:>9.1f}",
              flush=True)
    print("req/change: customer GET + PUT per change; (all): every request of the push "
          "(group list, group create) per change; ideal = requests × latency ÷ concurrency")


if __name__ == "__main__":
    main()
