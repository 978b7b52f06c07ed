"""The sandbox playing a month forward: time taken, orders placed, conversion per side.

Starts a sandbox N days back, moves a random half of its customers into group VIP (as a
segment's push would), plays the days over ``POST /__sandbox/simulate`` with VIP buying a
planted share more, and prints both sides' conversion (customers with an order that is
not canceled, as ``segbridge lift`` counts them) with Newcombe's 95 % interval of the
difference. ``--seeds K`` then draws K more months from the same shop (without placing
them) and prints how often the interval excludes 0: the power for a planted uplift, the
false-positive rate (about 5 %) for none.

    .venv/bin/python bench/simulate_bench.py                          # 20,000 customers
    .venv/bin/python bench/simulate_bench.py --uplift 0 --seeds 200
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from benchinfo import machine  # noqa: E402

from bridge.lift import stats  # noqa: E402
from bridge.sandbox.server import SandboxServer  # noqa: E402
from bridge.sandbox.simulate import DEFAULT_BASE_RATE, plan  # noqa: E402


def _side(orders: list, members: set[int]) -> int:
    return len({o.customer_id for o in orders
                if o.status != "canceled" and o.customer_id in members})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--uplift", type=float, default=0.2, help="VIP's planted share")
    ap.add_argument("--base-rate", type=float, default=DEFAULT_BASE_RATE,
                    help="a customer's chance to order on a day")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=0, help="more months drawn, not placed")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    with SandboxServer(customers=a.customers, seed=1, simulate_days=a.days,
                       uplift={"VIP": a.uplift}) as s:
        shop = s.shop
        print(f"sandbox: {len(shop.customers)} customers, {len(shop.orders)} orders, "
              f"generated in {time.perf_counter() - t0:.1f}s; clock {a.days} days back "
              f"({shop.clock.now_text()} UTC)")
        gid = shop.save_group({"group": {"code": "VIP", "tax_class_id": 3}})["id"]
        r = random.Random(5)
        vip = {cid for cid in shop.customers.ids if r.random() < 0.5}
        for cid in vip:
            shop.update_customer(cid, group_id=gid)
        others = set(shop.customers.ids) - vip
        t = time.perf_counter()
        answer = requests.post(f"{s.base_url}/__sandbox/simulate", timeout=600, json={
            "days": a.days, "base_rate": a.base_rate, "seed": a.seed})
        took = time.perf_counter() - t
        if answer.status_code != 200:
            print(f"the sandbox refused: {answer.json()['message']}")
            return 1
        body = answer.json()
        print(f"POST /__sandbox/simulate: {body['days']} days, {body['orders']} orders in "
              f"{took:.2f}s ({body['seconds']:.2f}s in the shop); now {body['now']} UTC")
        new = [shop.orders.rows[i] for i in range(body["first_order_id"],
                                                  body["last_order_id"] + 1)]
        x1, x2 = _side(new, vip), _side(new, others)
        iv = stats.newcombe_interval(x1, len(vip), x2, len(others))
        c1, c2 = 100 * x1 / len(vip), 100 * x2 / len(others)
        print(f"VIP ({100 * a.uplift:+.0f} % a day): {x1} of {len(vip)} bought, {c1:.2f} %; "
              f"the others: {x2} of {len(others)}, {c2:.2f} %; difference {c1 - c2:+.2f} "
              f"points, 95 % CI {100 * iv.low:+.2f} to {100 * iv.high:+.2f}")
        if a.seeds:
            t = time.perf_counter()
            excluded = 0
            for seed in range(1000, 1000 + a.seeds):
                sim = plan(shop, a.days, {"VIP": a.uplift}, a.base_rate, seed)
                y1, y2 = _side(sim.orders, vip), _side(sim.orders, others)
                excluded += stats.newcombe_interval(y1, len(vip), y2, len(others)).excludes(0)
            print(f"{a.seeds} more months drawn: the 95 % interval excludes 0 in {excluded} "
                  f"({100 * excluded / a.seeds:.1f} %); {time.perf_counter() - t:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
