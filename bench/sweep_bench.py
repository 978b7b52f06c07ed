"""The id sweep's cost: its requests on a big shop, and its share of a day of runs.

A daemon runs an incremental sync every 15 minutes (96 a day); the sweep that finds the
customers Magento no longer has runs at most every ``privacy.deletion_sweep_hours``
(default 24: once a day). The bench builds a sandbox shop (default 100,000 customers),
fills a store with a first run (a full sync, and a push that moves every member) and
more until a run's sync reads no more than what changed (the customers a push moved are
read back by the next sync), then measures:

- incremental runs (``segbridge run``: sync, evaluate, push) after a 15-minute share of
  changes (``--changes``, default 0.05 % of customers, orders and carts): the requests the
  shop answered for each, the denominator;
- the sweep with nobody deleted, and after ``--deleted`` customers were deleted in the
  shop (default 1, 5 and 20 in a day, each measured): its requests, from the sync's own
  counts; that it erased exactly them;
- for comparison, listing every customer id (one page of 300 ids a request).

The target: the sweep adds at most 5 % to the requests of a day of runs on average.

Run (the figures in docs/privacy.md)::

    .venv/bin/python bench/sweep_bench.py

Quicker: ``--customers 20000``.
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchinfo import machine
from bigshop import Shop, segbridge, write_config
from sqlalchemy import update

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUNS_A_DAY = 24 * 60 // 15


def _backdate_sweeps(store: str) -> None:
    """As if a day had passed since the last sweep (the next sync sweeps)."""
    from datetime import timedelta

    from bridge.store.engine import make_engine
    from bridge.store.privacy_tables import PrivacySweep
    from bridge.timeutil import utcnow

    engine = make_engine(store)
    try:
        with engine.begin() as conn:
            conn.execute(update(PrivacySweep.__table__).values(
                started_at=utcnow() - timedelta(days=1, minutes=1)))
    finally:
        engine.dispose()


def _list_all_ids(base_url: str, customers: int) -> tuple[int, float]:
    """(requests, seconds) to page through every customer id, 300 a page."""
    from bridge.config import parse_config
    from bridge.magento.client import MagentoClient
    from bridge.privacy.sweep import MagentoIds

    cfg = parse_config({"magento": {"base_url": base_url, "timeout_s": 120}}, None)
    import os

    os.environ.setdefault("MAGENTO_TOKEN", "bench-token")
    client = MagentoClient(cfg.magento, read_only=True)
    try:
        ids = MagentoIds(lambda crit, size: client.search_customers_page(crit, page_size=size),
                         300)
        t0 = time.monotonic()
        got = ids.ids(1, 10 ** 9)
        assert len(got) >= customers * 0.99, len(got)
        return ids.requests, time.monotonic() - t0
    finally:
        client.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders-per-customer", type=float, default=1.0)
    p.add_argument("--active-carts", type=float, default=0.1)
    p.add_argument("--latency", type=float, default=0.020)
    p.add_argument("--changes", type=float, default=0.0005,
                   help="share of customers, orders and carts changed between two runs")
    p.add_argument("--incremental", type=int, default=5, help="incremental runs measured")
    p.add_argument("--deleted", type=int, nargs="+", default=[1, 5, 20],
                   help="customers deleted in a day (one sweep measured for each)")
    args = p.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="segbridge-sweep-"))
    store = f"sqlite:///{workdir / 'bench.db'}"
    shop = Shop.start(args.customers, args.orders_per_customer, args.active_carts,
                      args.latency)
    sweeps: list[tuple[int, dict[str, int], float]] = []
    try:
        config = write_config(workdir / "segbridge.toml", shop.info["base_url"], store,
                              overlap_s=1)
        before = shop.ask("requests")
        first, wall, _ = segbridge(config, "run")
        print(f"first run (full sync): {shop.ask('requests') - before:,} requests, "
              f"{wall:.0f} s", flush=True)
        # the first push moved every member, which changed them: the next syncs read them
        # back (and the pushes after move the few whose segments that changed), until
        # a run's sync reads no more than the changes
        last = first["sync"]["requests"]
        for n in range(2, 9):
            time.sleep(1.1)
            settle, wall, _ = segbridge(config, "run")
            now = settle["sync"]["requests"]
            print(f"run {n} (settling): {now:,} sync requests, {wall:.0f} s", flush=True)
            if now >= last or now <= 20:
                break
            last = now
        incremental: list[int] = []
        synced: list[int] = []  # of which the sync's own
        walls: list[float] = []
        for _ in range(args.incremental):
            time.sleep(1.1)
            shop.ask("touch", args.changes)
            before = shop.ask("requests")
            inc, wall, _ = segbridge(config, "run")
            assert "sweep" not in inc["sync"]["entities"], "a sweep inside the interval"
            incremental.append(shop.ask("requests") - before)
            synced.append(inc["sync"]["requests"])
            walls.append(wall)
        # the median: a run that still read back a push's moves is not a quiet day's run
        per_run = statistics.median(incremental)
        per_sync = statistics.median(synced)
        per_run_s = statistics.median(walls)
        print(f"incremental runs: {incremental} requests, {[round(w, 1) for w in walls]} s",
              flush=True)
        for deleted in [0, *args.deleted]:
            gone = shop.ask("delete", deleted) if deleted else []
            _backdate_sweeps(store)
            time.sleep(1.1)
            out, wall, _ = segbridge(config, "sync")
            sweep = out["entities"]["sweep"]
            assert sweep["deleted"] == len(gone), (sweep, len(gone))
            sweeps.append((len(gone), sweep, wall))
            print(f"sweep after {len(gone)} deletion(s): {sweep['other_requests']} requests",
                  flush=True)
        listing, listing_s = _list_all_ids(shop.info["base_url"], args.customers)
    finally:
        shop.stop()

    n = shop.info["customers"]
    day = RUNS_A_DAY * per_run
    sync_day = RUNS_A_DAY * per_sync
    depth = math.log2(max(2, n / 300))
    print()
    print(f"shop: {n:,} customers; {RUNS_A_DAY} incremental runs a day (every 15 minutes), "
          f"{args.changes:.2%} of records changed between two")
    print(f"  an incremental run (sync, evaluate, push): {per_run:.0f} requests and "
          f"{per_run_s:.1f} s (medians of {incremental}); a day of them: {day:,.0f} requests")
    print(f"  of which the sync: {per_sync:.0f} requests a run ({synced}); "
          f"{sync_day:,.0f} a day")
    print("  the sweep, once a day (privacy.deletion_sweep_hours = 24):")
    print(f"  {'deleted that day':>16} {'requests':>9} {'of the runs':>12} "
          f"{'of the syncs':>13} {'per deleted':>12}")
    for deleted, sweep, _wall in sweeps:
        s = sweep["other_requests"]
        per = f"{(s - 1) / deleted:.1f}" if deleted else "-"
        print(f"  {deleted:>16} {s:>9} {s / day:>12.2%} {s / sync_day:>13.2%} {per:>12}")
    print(f"  target: at most 5 % of a day's requests; per deleted customer about "
          f"log2(customers ÷ 300) + 1 = {depth + 1:.1f}")
    print(f"  for comparison, listing every id (300 a page): {listing:,} requests, "
          f"{listing_s:.1f} s = {listing / day:.1%} of the runs' requests, "
          f"{listing / sync_day:.1%} of the syncs'")
    print()
    print(f"machine: {machine()}")
    print("reproduce: " + " ".join(shlex.quote(a) for a in [
        ".venv/bin/python", "bench/sweep_bench.py", *sys.argv[1:]]))
    for f in workdir.glob("bench.db*"):
        f.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
