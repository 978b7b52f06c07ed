"""The store's part of a sync worker's turn on SQLite: writing a run's bound statements.

Pages of orders (or ``--entity customers``) are fetched from a sandbox over loopback as
the sync asks for them (its fields, in its (updated_at, id) order) and bound as a worker
binds them (orders: the lean path, ``offload._lean_bound``; customers: the general one,
``StoreWriter.bind_jobs``), all before the clock starts; then runs of ``--run`` pages
are written into a new SQLite file
by two connections with the workers' settings (``writer.SQLITE_WORKER_PRAGMAS``), taking
turns as the two workers do, each checkpointing after every ``offload.CHECKPOINT_EVERY``
of its runs. Printed: CPU and wall per order, and the bytes the process handed to write
calls (``/proc/self/io``; the WAL, the checkpoints and any spilled statement journal).

Two switches undo one setting each, to compare with it:

- ``--spill-journals``: the workers without ``temp_store=MEMORY`` (SQLite then spills
  each multi-row statement's journal past 64 KiB to a temporary file);
- ``--sqlite3-none-lookup``: None bound through the ``sqlite3`` module's own adapter
  lookup, not the adapter ``engine.bind_none_directly`` registers.

CPU per order is noisy on a shared machine; under valgrind the instruction count is not
(``valgrind --tool=callgrind`` on both, the difference is the setting's)::

    .venv/bin/python bench/store_bench.py                 # 20,000 customers, ~80,000 orders
    .venv/bin/python bench/store_bench.py --sqlite3-none-lookup
    .venv/bin/python bench/store_bench.py --entity customers --customers 100000
    .venv/bin/python bench/store_bench.py --entity customers --customers 100000 --spill-journals
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import machine, page_bodies

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.config import MagentoConfig  # noqa: E402
from bridge.magento.auth import TokenAuth  # noqa: E402
from bridge.magento.client import MagentoClient  # noqa: E402
from bridge.magento.search import SearchCriteria  # noqa: E402
from bridge.sandbox.server import SandboxServer  # noqa: E402
from bridge.store import bulk  # noqa: E402
from bridge.store.engine import make_engine, open_store  # noqa: E402
from bridge.store.upsert import replay  # noqa: E402
from bridge.sync import offload  # noqa: E402
from bridge.sync import transform as tf  # noqa: E402
from bridge.sync.writer import SQLITE_WORKER_PRAGMAS, StoreWriter  # noqa: E402
from bridge.timeutil import utcnow  # noqa: E402


def _written() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--entity", choices=("orders", "customers"), default="orders")
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--run", type=int, default=64, help="pages a run (writer.DRAIN_LIMIT)")
    p.add_argument("--spill-journals", action="store_true")
    p.add_argument("--sqlite3-none-lookup", action="store_true")
    args = p.parse_args()

    entity = args.entity
    id_key = "entity_id" if entity == "orders" else "id"
    crit = SearchCriteria().order_by("updated_at", "ASC").order_by("entity_id", "ASC")
    if entity == "orders":
        crit = crit.fields(*tf.ORDER_FIELDS)
    per = 4.0 if entity == "orders" else 0.0  # customers: no orders to build
    with SandboxServer(customers=args.customers, seed=1, orders_per_customer=per) as sb:
        cfg = MagentoConfig(base_url=sb.base_url, store_code="default", timeout_s=60,
                            page_size=args.page_size, concurrency=1)
        with MagentoClient(cfg, auth=TokenAuth(sb.token)) as client:
            bodies = page_bodies(client, entity, crit, args.page_size)
            websites = {v["id"]: v["website_id"] for v in client.store_views()}

    workdir = Path(tempfile.mkdtemp(prefix="segbridge-store-bench-"))
    url = f"sqlite:///{workdir / 'store.db'}"
    store = open_store(url)
    with store.begin() as conn:  # a first load, as the sync makes it
        bulk.defer_indexes(conn, entity)
    store.dispose()
    pragmas = tuple(x for x in SQLITE_WORKER_PRAGMAS
                    if not (args.spill_journals and x.startswith("PRAGMA temp_store")))
    engines = [make_engine(url), make_engine(url)]  # the two workers
    writers = [StoreWriter(e, None, utcnow, sqlite_pragmas=pragmas) for e in engines]
    if args.sqlite3_none_lookup:
        sqlite3.adapters.pop((type(None), sqlite3.PrepareProtocol), None)
    ctx = offload.Context(entity, id_key, (), websites, utcnow(), url, None,
                          money_as_float=True)
    runs: list[tuple[list[tuple[str, object]], int]] = []
    for i in range(0, len(bodies), args.run):
        run = bodies[i:i + args.run]
        if entity == "orders":
            lean = offload._lean_bound(ctx, run, writers[0])
            assert lean is not None, "the sandbox's orders should all take the lean path"
            runs.append((lean[0], sum(lean[1])))
        else:
            jobs = offload._jobs(ctx, run)
            statements = writers[0].bind_jobs(jobs)
            assert statements is not None
            runs.append((statements, sum(len(j.records) for j in jobs)))
    records = sum(n for _, n in runs)

    gc.collect()
    gc.disable()
    w0, c0, b0 = time.perf_counter(), time.process_time(), _written()
    done = [0, 0]  # runs each connection wrote
    for n, (statements, _) in enumerate(runs):
        w = n % 2
        with writers[w].transaction() as conn:
            replay(conn, statements)
        done[w] += 1
        if done[w] % offload.CHECKPOINT_EVERY == 0:
            with engines[w].connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    written = _written() - b0
    gc.enable()
    size = (workdir / "store.db").stat().st_size
    for e in engines:
        e.dispose()
    for f in workdir.iterdir():
        f.unlink()
    workdir.rmdir()

    flags = " ".join(f for f, on in (("--spill-journals", args.spill_journals),
                                     ("--sqlite3-none-lookup", args.sqlite3_none_lookup)) if on)
    print(f"{records:,} {entity} in {len(runs)} runs of {args.run} pages, two connections "
          f"taking turns{'; ' + flags if flags else ''}:")
    print(f"  CPU {cpu / records * 1e6:.1f} µs a record, wall {wall / records * 1e6:.1f} µs; "
          f"{written / 1e6:,.0f} MB handed to write calls ({written / records / 1e3:.1f} KB "
          f"a record); database {size / 1e6:.0f} MB")
    print(f"machine: {machine()}")
    print(f"reproduce: .venv/bin/python bench/store_bench.py --entity {entity} "
          f"--customers {args.customers} --page-size {args.page_size} --run {args.run}"
          + (f" {flags}" if flags else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
