"""The whole loop: a planted uplift is found and none is not, at the expected error rate.

Two sandbox shops of 3,500 customers started a month back go through sync, evaluate (as
of the shop's clock), push, a played month, sync, evaluate and lift (tests/lift_loop.py).
In the first the pushed group ``Treat`` orders 20 % more often a day, in the second it does
not; each also has 15 segments whose halves differ by nothing but the hash draw. The
figures of ``treat`` are checked against the sandbox's own orders; across the 31
comparisons where nothing differs, the share whose 95 % interval excludes 0 must lie in
the 99.9 % band of Binomial(31, 0.05). bench/lift_loop_bench.py runs 200 such shops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lift_loop
import pytest
from scipy import stats as sps

from bridge.lift.holdout import is_held_out

NULLS = 15


def _run(folder: Path, seed: int, uplift: float) -> tuple[dict[str, Any], Any, list[int]]:
    placed: dict[str, Any] = {}
    simulate = lift_loop.simulate_days

    def keep(shop: Any, *args: Any, **kw: Any) -> Any:
        placed["sim"] = simulate(shop, *args, **kw)
        placed["ids"] = list(shop.customers.ids)
        return placed["sim"]

    lift_loop.simulate_days = keep
    try:
        lifts = lift_loop.run_loop(folder, customers=3500, seed=seed, uplift=uplift,
                                   nulls=NULLS, base_rate=0.02)
    finally:
        lift_loop.simulate_days = simulate
    return lifts, placed["sim"], placed["ids"]


@pytest.fixture(scope="module")
def loops(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Any]:
    return {uplift: _run(tmp_path_factory.mktemp(f"loop{seed}"), seed, uplift)
            for seed, uplift in ((1, 0.2), (2, 0.0))}


def test_the_lift_is_what_the_shop_sold(loops: dict[float, Any]) -> None:
    """segbridge's sides and buyers are the sandbox's own: the month's orders that are not
    canceled, by customers on each side of the hash rule."""
    for lifts, sim, ids in loops.values():
        held = {cid for cid in ids if is_held_out("treat", cid, 0.5)}
        buyers = {o.customer_id for o in sim.orders if o.status != "canceled"}
        orders = [o.customer_id for o in sim.orders if o.status != "canceled"]
        t = lifts["treat"]
        assert (t.held_out.members, t.treated.members) == (len(held), len(ids) - len(held))
        assert (t.held_out.buyers, t.treated.buyers) == (len(buyers & held), len(buyers - held))
        assert t.held_out.orders == sum(cid in held for cid in orders)
        assert t.treated.orders + t.held_out.orders == len(orders)


def test_a_planted_uplift_is_found(loops: dict[float, Any]) -> None:
    lift = loops[0.2][0]["treat"]
    assert lift.conversion.interval.excludes(0), lift.verdict()
    assert lift.conversion.interval.low > 0
    assert lift.conversion.p_value < 0.05
    # 20 % more orders a day: the relative difference of orders per member covers it
    rel = lift.orders_per_member.relative_interval
    assert rel is not None and rel.low <= 0.2 <= rel.high, lift.orders_per_member


def test_no_uplift_is_not_found_at_the_expected_rate(loops: dict[float, Any]) -> None:
    lift = loops[0.0][0]["treat"]
    assert not lift.conversion.interval.excludes(0), lift.verdict()
    nulls = [lifts[f"null{i:02d}"] for lifts, _, _ in loops.values() for i in range(NULLS)]
    nulls.append(lift)
    found = sum(x.conversion.interval.excludes(0) for x in nulls)
    low, high = sps.binom.ppf(0.0005, len(nulls), 0.05), sps.binom.isf(0.0005, len(nulls), 0.05)
    assert low <= found <= high, (found, [x.verdict() for x in nulls])
    # and the intervals are about as wide as the sides' sizes say, not degenerate
    for x in nulls:
        assert 0.02 < x.conversion.interval.high - x.conversion.interval.low < 0.1
