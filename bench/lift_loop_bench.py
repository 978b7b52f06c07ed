"""The whole holdout loop over many sandbox shops: how often a 95 % interval excludes 0.

Each shop is a new sandbox (its own seed) started a month back, taken through sync,
evaluate as of the shop's clock, push (segment ``treat``: every customer, holdout 0.5, group
``Treat``), a played month in which group ``Treat`` orders ``--uplift`` more often a day,
sync, evaluate and ``segbridge lift``'s figures (tests/lift_loop.py). With ``--uplift 0``
the share of shops whose conversion interval excludes 0 is the false-positive rate, about
5 % if the intervals are right; with an uplift it is the power.

    .venv/bin/python bench/lift_loop_bench.py --shops 200 --uplift 0
    .venv/bin/python bench/lift_loop_bench.py --shops 50 --uplift 0.2
    .venv/bin/python bench/lift_loop_bench.py --shops 1 --customers 4000 --uplift 0.2 \
        --keep /tmp/planted && .venv/bin/segbridge --config /tmp/planted/segbridge.toml lift treat

``--keep DIR`` (one shop) leaves its store and config in DIR for ``segbridge lift``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the loop itself: tests/lift_loop.py

from benchinfo import machine  # noqa: E402

from bridge.lift import stats  # noqa: E402


def one_shop(job: tuple[int, int, float, float, str | None]
             ) -> tuple[int, bool, float, float, float]:
    """(seed, interval excludes 0, difference, low, high) of one shop's ``treat``."""
    seed, customers, uplift, base_rate, keep = job
    import lift_loop

    with tempfile.TemporaryDirectory(prefix="segbridge-lift-loop-") as tmp:
        folder = Path(keep) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        lift = lift_loop.run_loop(folder, customers=customers, seed=seed, uplift=uplift,
                                  base_rate=base_rate)["treat"]
    iv = lift.conversion.interval
    assert iv is not None and lift.conversion.absolute is not None
    return seed, iv.excludes(0), lift.conversion.absolute, iv.low, iv.high


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shops", type=int, default=200)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--uplift", type=float, default=0.0)
    ap.add_argument("--base-rate", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2, help="shops run side by side")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--keep", default=None, metavar="DIR",
                    help="one shop: keep its store and config in DIR")
    a = ap.parse_args()
    if a.keep and a.shops != 1:
        ap.error("--keep takes one shop (--shops 1)")
    print(f"machine: {machine()}")
    print(f"{a.shops} shops of {a.customers} customers, holdout 0.5, uplift {a.uplift:+.0%} "
          f"a day, base rate {a.base_rate} a day, {a.workers} at a time")
    jobs = [(seed, a.customers, a.uplift, a.base_rate, a.keep)
            for seed in range(a.first_seed, a.first_seed + a.shops)]
    t0 = time.perf_counter()
    found = 0
    done = 0
    with multiprocessing.get_context("spawn").Pool(a.workers) as pool:
        for seed, excludes, diff, low, high in pool.imap_unordered(one_shop, jobs):
            done += 1
            found += excludes
            if excludes or done % 20 == 0:
                print(f"  shop {seed}: {diff * 100:+.1f} points (95 % CI {low * 100:+.1f} to "
                      f"{high * 100:+.1f}){' excludes 0' if excludes else ''}; "
                      f"{done}/{a.shops} done, {found} exclude 0", flush=True)
    took = time.perf_counter() - t0
    share = stats.wilson_interval(found, a.shops)
    print(f"{found} of {a.shops} shops ({100 * found / a.shops:.1f} %, 95 % CI "
          f"{100 * share.low:.1f} to {100 * share.high:.1f} %) have a conversion interval "
          f"that excludes 0; {took:.0f} s ({took / a.shops:.1f} s a shop)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
