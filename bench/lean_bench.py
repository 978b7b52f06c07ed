"""The workers' two paths for orders, side by side: CPU per order to decode a page,
turn it into rows and bind the statements (everything before the store's own work).

Pages of orders are fetched from a sandbox over loopback as the sync asks for them
(``transform.ORDER_FIELDS``); then, in this process and with the collector off as in a
worker, the general path (``offload._jobs`` + ``StoreWriter.bind_jobs``) and the lean path
(``offload._lean_bound``, ``bridge/sync/lean.py``) bind the same pages, taking turns, three
times each. Both give the same statements (checked here too).

    .venv/bin/python bench/lean_bench.py            # 20,000 customers, ~80,000 orders
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

from benchinfo import machine, page_bodies

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.config import MagentoConfig  # noqa: E402
from bridge.magento.auth import TokenAuth  # noqa: E402
from bridge.magento.client import MagentoClient  # noqa: E402
from bridge.magento.search import SearchCriteria  # noqa: E402
from bridge.sandbox.server import SandboxServer  # noqa: E402
from bridge.store.engine import make_engine  # noqa: E402
from bridge.sync import offload  # noqa: E402
from bridge.sync import transform as tf  # noqa: E402
from bridge.sync.writer import SQLITE_WORKER_PRAGMAS, StoreWriter  # noqa: E402
from bridge.timeutil import utcnow  # noqa: E402

RUN = 64  # pages a worker binds at once (writer.DRAIN_LIMIT)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--page-size", type=int, default=100)
    args = p.parse_args()

    with SandboxServer(customers=args.customers, seed=1, orders_per_customer=4.0) as sb:
        cfg = MagentoConfig(base_url=sb.base_url, store_code="default", timeout_s=60,
                            page_size=args.page_size, concurrency=1)
        with MagentoClient(cfg, auth=TokenAuth(sb.token)) as client:
            crit = SearchCriteria().fields(*tf.ORDER_FIELDS)
            bodies = page_bodies(client, "orders", crit, args.page_size)
            websites = {v["id"]: v["website_id"] for v in client.store_views()}
    runs = [bodies[i:i + RUN] for i in range(0, len(bodies), RUN)]
    ctx = offload.Context("orders", "entity_id", (), websites, utcnow(), "sqlite://", None,
                          money_as_float=True)
    writer = StoreWriter(make_engine("sqlite://"), None, utcnow,
                         sqlite_pragmas=SQLITE_WORKER_PRAGMAS)

    def general(run: list[bytes]) -> tuple[object, int]:
        jobs = offload._jobs(ctx, run)
        return writer.bind_jobs(jobs), sum(len(j.records) for j in jobs)

    def lean(run: list[bytes]) -> tuple[object, int]:
        bound = offload._lean_bound(ctx, run, writer)
        assert bound is not None, "the sandbox's orders should all take the lean path"
        return bound[0], sum(bound[1])

    orders = 0
    for run in runs:  # the same statements, once
        (g, n), (lb, _) = general(run), lean(run)
        assert g == lb
        orders += n
    gc.disable()
    times: dict[str, list[float]] = {"general": [], "lean": []}
    for _ in range(3):
        for name, fn in (("general", general), ("lean", lean)):
            t = time.process_time()
            for run in runs:
                fn(run)
            times[name].append((time.process_time() - t) / orders * 1e6)
    gc.enable()

    print(f"{orders:,} orders in {len(bodies):,} pages of {args.page_size}, runs of {RUN} "
          "pages; CPU per order to decode, make rows and bind (best of 3, all 3):")
    for name, ts in times.items():
        print(f"  {name:8s} {min(ts):5.1f} µs   ({', '.join(f'{t:.1f}' for t in ts)})")
    g, lb = min(times["general"]), min(times["lean"])
    print(f"  lean ÷ general = {lb / g:.2f}; the same statements for every run: yes")
    print(f"machine: {machine()}")
    print(f"reproduce: .venv/bin/python bench/lean_bench.py --customers {args.customers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
