"""Lift from a store: spans, orders, sides and figures, on every supported database; and a
simulation of shops with and without an uplift (pure Python, the same comparison code)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from scipy import stats as sps
from scipy.stats.contingency import relative_risk
from sqlalchemy import Engine

from bridge.lift import stats as L
from bridge.lift.compute import (
    MIN_MEMBERS,
    Lift,
    LiftError,
    MemberOutcome,
    compare,
    compute_lift,
    format_p,
    member_outcomes,
)
from bridge.lift.holdout import held_out, position
from bridge.segments.testing import insert_rows
from bridge.store.models import Order
from bridge.store.segment_tables import SegmentHistory, SegmentRecord

T0 = datetime(2026, 11, 1)  # the segment's first evaluation
AS_OF = datetime(2026, 12, 1)  # its last
DAY = timedelta(days=1)

# "vip" at 20 %: customers 2, 8, 11 and 15 are held out (positions 0.083, 0.118, 0.051,
# 0.135), customers 1, 3, 4 and 5 are treated (0.288, 0.274, 0.951, 0.476).
A, B, C, D = 1, 3, 4, 5  # treated
E, F = 2, 8  # held out
LATE, EARLY = 11, 15  # held out: joins after AS_OF; joined before a later --since
STRANGER = 7  # never a member


def _segment(conn, code: str = "vip", last_as_of: datetime | None = AS_OF) -> None:
    insert_rows(
        conn,
        SegmentRecord,
        [
            {
                "code": code,
                "name": code,
                "active": True,
                "priority": 0,
                "members": 0,
                "definition_hash": "x",
                "first_seen_at": T0,
                "defined_at": T0,
                "last_as_of": last_as_of,
            }
        ],
    )


def _history(conn, *events: tuple[int, str, datetime], code: str = "vip") -> None:
    insert_rows(
        conn,
        SegmentHistory,
        [{"segment_code": code, "customer_id": c, "event": e, "at": at} for c, e, at in events],
    )


_next_order = iter(range(1, 1_000_000))


def _order(customer: int | None, at: datetime, total: str, status: str | None = "processing",
           **kw: object) -> dict[str, object]:  # fmt: skip
    return {
        "id": next(_next_order),
        "customer_id": customer,
        "created_at": at,
        "status": status,
        "base_grand_total": Decimal(total),
        **kw,
    }


def _shop(engine: Engine) -> None:
    """The hand-made shop the expected figures below are worked out from."""
    with engine.begin() as conn:
        _segment(conn)
        _history(
            conn,
            (A, "joined", T0),
            (B, "joined", T0),
            (B, "left", T0 + 5 * DAY),
            (B, "joined", T0 + 20 * DAY),  # a second joining: not a second span
            (C, "joined", T0 + 25 * DAY),
            (D, "joined", T0),
            (E, "joined", T0 + DAY),
            (F, "joined", T0),
            (EARLY, "joined", T0 - 10 * DAY),
            (LATE, "joined", AS_OF + DAY),
        )
        _history(conn, (STRANGER, "joined", T0), code="other")
        insert_rows(
            conn,
            Order,
            [
                # A: 1 order, 100 (window 10 days)
                _order(A, T0, "999"),  # seen by the joining evaluation itself
                _order(A, T0 + DAY, "100.00"),
                _order(A, T0 + 2 * DAY, "50", status="canceled"),
                _order(A, T0 + 3 * DAY, "30", deleted=True),
                _order(A, T0 + 11 * DAY, "70"),  # after the window
                # B: 2 orders, 100 (left after 5 days; the second joining does not count)
                _order(B, T0 + 4 * DAY, "40"),
                _order(B, T0 + 5 * DAY, "60", status="complete"),  # at the leaving: in
                _order(B, T0 + 6 * DAY, "80"),
                _order(B, T0 + 21 * DAY, "500"),
                # C: 1 order, 20 (cut at the as-of after 5 days)
                _order(C, T0 + 24 * DAY, "15"),
                _order(C, T0 + 29 * DAY, "20"),
                _order(C, AS_OF + DAY, "40"),
                # D: nothing. E: 2 orders, 60 (one without a status)
                _order(E, T0 + 2 * DAY, "25.5"),
                _order(E, T0 + 3 * DAY, "34.5", status=None),
                # F: only a guest order matched to them
                _order(None, T0 + 2 * DAY, "90", customer_is_guest=True, guest_customer_id=F),
                _order(EARLY, T0 - 5 * DAY, "11"),
                _order(LATE, AS_OF, "12"),
                _order(STRANGER, T0 + DAY, "13"),
            ],
        )


@pytest.mark.db
def test_figures_of_a_hand_made_shop(engine: Engine) -> None:
    _shop(engine)
    with engine.connect() as conn:
        lift = compute_lift(conn, "vip", 0.2, window=10 * DAY, as_of=AS_OF)
        outcomes = member_outcomes(conn, "vip", 0.2, window=10 * DAY, as_of=AS_OF)
    got = {o.customer_id: (o.held_out, o.orders, o.revenue) for o in outcomes}
    assert got == {
        A: (False, 1, Decimal("100")),
        B: (False, 2, Decimal("100")),
        C: (False, 1, Decimal("20")),
        D: (False, 0, Decimal("0")),
        E: (True, 2, Decimal("60")),
        F: (True, 0, Decimal("0")),
        EARLY: (True, 1, Decimal("11")),
    }
    spans = {o.customer_id: (o.joined_at, o.until) for o in outcomes}
    assert spans[B] == (T0, T0 + 5 * DAY)
    assert spans[C] == (T0 + 25 * DAY, AS_OF)
    assert spans[A] == (T0, T0 + 10 * DAY)

    t, h = lift.treated, lift.held_out
    assert (t.members, t.buyers, t.orders, t.revenue) == (4, 3, 4, Decimal("220"))
    assert (t.conversion, t.orders_per_member, t.revenue_per_member) == (0.75, 1.0, 55.0)
    assert t.average_order_value == 55.0
    assert (h.members, h.buyers, h.orders, h.revenue) == (3, 2, 3, Decimal("71"))
    assert h.conversion == pytest.approx(2 / 3)
    assert h.revenue_per_member == pytest.approx(71 / 3)
    assert h.average_order_value == pytest.approx(71 / 3)

    assert lift.conversion.absolute == pytest.approx(0.75 - 2 / 3)
    assert lift.conversion.interval == L.newcombe_interval(3, 4, 2, 3)
    assert lift.conversion.p_value == pytest.approx(
        sps.chi2_contingency([[3, 1], [2, 1]], correction=False).pvalue
    )
    assert lift.conversion.relative == pytest.approx(0.75 / (2 / 3) - 1)
    ref = sps.ttest_ind([100, 100, 20, 0], [60, 0, 11], equal_var=False)
    ci = ref.confidence_interval(0.95)
    r = lift.revenue_per_member
    assert r.absolute == pytest.approx(55 - 71 / 3)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (r.interval.low, r.interval.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    ref = sps.ttest_ind([1, 2, 1, 0], [2, 0, 1], equal_var=False)
    assert lift.orders_per_member.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert lift.average_order_value.absolute == pytest.approx(55 - 71 / 3)
    assert lift.average_order_value.interval is None
    assert lift.too_few
    assert lift.verdict() == (
        "vip: too few to judge (4 treated and 3 held-out members; at least 30 a side are needed)"
    )


@pytest.mark.db
def test_since_guest_orders_and_the_default_as_of(engine: Engine) -> None:
    _shop(engine)
    with engine.connect() as conn:
        # the default as-of is the segment's last evaluation
        lift = compute_lift(conn, "vip", 0.2, window=10 * DAY, link_guest_orders=True)
        assert lift.as_of == AS_OF
        # F's guest order counts now: held out 3 members, 3 buyers, 4 orders, 161
        h = lift.held_out
        assert (h.members, h.buyers, h.orders, h.revenue) == (3, 3, 4, Decimal("161"))
        # since T0: EARLY (joined before) is left out; 30-day window: A's order of day 11 in
        lift = compute_lift(conn, "vip", 0.2, since=T0)
        t, h = lift.treated, lift.held_out
        assert (t.members, t.orders, t.revenue) == (4, 5, Decimal("290"))
        assert (h.members, h.orders, h.revenue) == (2, 2, Decimal("60"))
        # since after B's first joining: B's second joining is the span (500 counts)
        outcomes = member_outcomes(conn, "vip", 0.2, since=T0 + 10 * DAY, as_of=AS_OF)
        assert {o.customer_id: o.revenue for o in outcomes} == {
            B: Decimal("500"),
            C: Decimal("20"),
        }
        # a larger share moves customers to the held-out side, none back
        sides = {o.customer_id: o.held_out for o in member_outcomes(conn, "vip", 0.3, as_of=AS_OF)}
        assert sides == {A: True, B: True, C: False, D: False, E: True, F: True, EARLY: True}


@pytest.mark.db
def test_unknown_or_unevaluated_segments_and_bad_arguments(engine: Engine) -> None:
    with engine.begin() as conn:
        _segment(conn, "fresh", last_as_of=None)
    with engine.connect() as conn:
        with pytest.raises(LiftError, match="segment 'nope' is not in the store"):
            compute_lift(conn, "nope", 0.1)
        with pytest.raises(LiftError, match="segment 'fresh' has not been evaluated yet"):
            compute_lift(conn, "fresh", 0.1)
        with pytest.raises(LiftError, match="window must be positive"):
            compute_lift(conn, "fresh", 0.1, window=timedelta(0), as_of=AS_OF)
        with pytest.raises(ValueError, match="holdout must be a number from 0 to 0.5"):
            compute_lift(conn, "fresh", 0.7, as_of=AS_OF)
        empty = compute_lift(conn, "fresh", 0.1, as_of=AS_OF)
    assert empty.treated.members == empty.held_out.members == 0
    assert empty.conversion.absolute is None and empty.too_few


# customers 1..200 of "vip" at 10 %: pinned, the same list as in test_lift_holdout
VIP_HELD_OUT_10 = [2, 11, 25, 32, 36, 68, 72, 77, 82, 85, 101, 107, 111, 119, 127, 163, 169,
                   183, 192, 200]  # fmt: skip


@pytest.mark.db
def test_the_same_customers_are_held_out_on_every_database(engine: Engine) -> None:
    """The side is computed in Python from the code and the id, never by the database:
    whichever database runs this, the held-out members are this pinned list."""
    rng = random.Random(22)
    with engine.begin() as conn:
        _segment(conn)
        ids = list(range(1, 201))
        rng.shuffle(ids)  # written in no particular order
        _history(conn, *[(cid, "joined", T0 + timedelta(minutes=cid)) for cid in ids])
    with engine.connect() as conn:
        outcomes = member_outcomes(conn, "vip", 0.1, as_of=AS_OF)
    assert [o.customer_id for o in outcomes if o.held_out] == VIP_HELD_OUT_10


@pytest.mark.db
def test_the_held_out_share_read_from_the_store_lies_in_the_binomial_999_band(
    engine: Engine,
) -> None:
    """3,000 members read back from the store: at each share h the held-out count lies in
    the central 99.9 % of Binomial(3000, h), and the sides are the pure rule's, on every
    database (one store for all shares: a new MariaDB schema costs seconds)."""
    with engine.begin() as conn:
        _segment(conn)
        _history(conn, *[(cid, "joined", T0) for cid in range(1001, 4001)])
    for share in (0.05, 0.1, 0.25, 0.5):
        with engine.connect() as conn:
            outcomes = member_outcomes(conn, "vip", share, as_of=AS_OF)
        got = {o.customer_id for o in outcomes if o.held_out}
        assert got == held_out("vip", range(1001, 4001), share)
        low, high = sps.binom.ppf(0.0005, 3000, share), sps.binom.isf(0.0005, 3000, share)
        assert low <= len(got) <= high, (share, len(got), low, high)


@pytest.mark.db
def test_a_generated_shop_matches_figures_computed_directly(engine: Engine) -> None:
    """300 members, random joinings, leavings and orders: every figure equals the one
    computed here straight from the generated rows, and the intervals equal SciPy's."""
    rng = random.Random(2026)
    events, orders, expected = [], [], {}
    for cid in range(1, 301):
        joined = T0 + timedelta(seconds=rng.randrange(0, 25 * 86400))
        end = min(joined + 30 * DAY, AS_OF)
        events.append((cid, "joined", joined))
        if rng.random() < 0.2:
            left = joined + timedelta(seconds=rng.randrange(1, 20 * 86400))
            if left <= AS_OF:
                events.append((cid, "left", left))
                end = min(end, left)
        count, revenue = 0, Decimal(0)
        for _ in range(rng.choice([0, 0, 0, 1, 2, 3])):
            at = joined + timedelta(seconds=rng.randrange(-86400, 35 * 86400))
            total = Decimal(rng.randrange(100, 50_000)) / 100
            status = rng.choice(["processing", "complete", "canceled", None])
            orders.append(_order(cid, at, str(total), status=status))
            if joined < at <= end and status != "canceled":
                count, revenue = count + 1, revenue + total
        expected[cid] = (count, revenue)
    with engine.begin() as conn:
        _segment(conn)
        _history(conn, *events)
        insert_rows(conn, Order, orders)
    with engine.connect() as conn:
        lift = compute_lift(conn, "vip", 0.3)
        outcomes = member_outcomes(conn, "vip", 0.3, as_of=AS_OF)
    assert {o.customer_id: (o.orders, o.revenue) for o in outcomes} == expected
    held = held_out("vip", expected, 0.3)
    t_rev = [float(r) for c, (_, r) in expected.items() if c not in held]
    h_rev = [float(r) for c, (_, r) in expected.items() if c in held]
    assert lift.treated.members == len(t_rev) and lift.held_out.members == len(h_rev)
    assert not lift.too_few
    ref = sps.ttest_ind(t_rev, h_rev, equal_var=False)
    ci = ref.confidence_interval(0.95)
    r = lift.revenue_per_member
    assert (r.interval.low, r.interval.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    tb = sum(1 for c, (n, _) in expected.items() if n and c not in held)
    hb = sum(1 for c, (n, _) in expected.items() if n and c in held)
    assert (lift.treated.buyers, lift.held_out.buyers) == (tb, hb)
    assert lift.conversion.interval == L.newcombe_interval(tb, len(t_rev), hb, len(h_rev))
    rr = relative_risk(tb, len(t_rev), hb, len(h_rev)).confidence_interval(0.95)
    rel = lift.conversion.relative_interval
    assert (rel.low, rel.high) == pytest.approx((rr.low - 1, rr.high - 1), rel=1e-12)
    assert lift.verdict().startswith("vip: ") and "points conversion (95 % CI " in lift.verdict()


# --- simulations (pure Python: the comparison the store's figures go through) -------------


def _simulated_shop(rng: random.Random, members: int, rate: float, uplift: float,
                    share: float = 0.2) -> list[MemberOutcome]:  # fmt: skip
    """Members split by the hash rule; each buys (one order of 40-120) with probability
    ``rate`` if held out and ``rate · (1 + uplift)`` if treated."""
    code = f"shop{rng.randrange(10**9)}"
    out = []
    for cid in range(1, members + 1):
        is_held = position(code, cid) < share
        p = rate if is_held else rate * (1 + uplift)
        bought = rng.random() < p
        revenue = Decimal(rng.randrange(4000, 12000)) / 100 if bought else Decimal(0)
        out.append(MemberOutcome(cid, is_held, T0, AS_OF, int(bought), revenue))
    return out


def test_200_shops_without_uplift_find_one_about_5_percent_of_the_time():
    """No uplift: the 95 % conversion interval should exclude 0 in about 5 % of shops.
    200 shops of 2,000 members (20 % held out, 5 % buy): the count of shops where it does
    must lie in the central 99.9 % of Binomial(200, 0.05), 2 to 21 (fixed seed)."""
    rng = random.Random(20261207)
    excluded = 0
    for _ in range(200):
        _, _, conversion, _, _, _ = compare(_simulated_shop(rng, 2000, 0.05, 0.0))
        excluded += conversion.interval.excludes(0)
    low, high = sps.binom.ppf(0.0005, 200, 0.05), sps.binom.isf(0.0005, 200, 0.05)
    assert (low, high) == (2, 21)
    assert low <= excluded <= high, excluded
    print(f"no uplift: {excluded} of 200 shops ({excluded / 2:.1f} %) exclude 0")


def test_a_planted_20_percent_uplift_is_found_on_a_large_shop():
    """60,000 members, 20 % held out, 10 % conversion held out and 12 % treated: the
    expected z is about 5.8, so the interval excludes 0 with near certainty."""
    rng = random.Random(7)
    t, h, conversion, _, revenue, _ = compare(_simulated_shop(rng, 60_000, 0.10, 0.20))
    assert conversion.interval.low > 0
    assert conversion.p_value < 0.001
    assert conversion.relative_interval.low > 0 and conversion.relative_interval.high > 0.1
    assert revenue.interval.low > 0
    assert t.members >= MIN_MEMBERS and h.members >= MIN_MEMBERS


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.5, "0.50"), (0.1, "0.10"), (0.0213, "0.021"), (0.05, "0.05"), (0.0042, "0.004"),
     (0.001, "0.001"), (0.00099, "< 0.001"), (0.0, "< 0.001")],
)  # fmt: skip
def test_p_values_read_as_people_write_them(p, text):
    assert format_p(p) == text


def test_the_verdict_in_words():
    """The sentence of the issue, from a conversion of 13.1 % vs 10.0 % on 2,000 a side."""
    outcomes = [MemberOutcome(c, False, T0, AS_OF, int(c <= 262), Decimal(0)) for c in
                range(1, 2001)] + [MemberOutcome(c, True, T0, AS_OF, int(c <= 2200),
                Decimal(0)) for c in range(2001, 4001)]  # fmt: skip
    t, h, conversion, *_ = compare(outcomes)
    assert (t.conversion, h.conversion) == (0.131, 0.1)
    ci, p = conversion.interval, conversion.p_value
    assert (round(ci.low * 100, 1), round(ci.high * 100, 1), round(p, 4)) == (1.1, 5.1, 0.0022)
    lift = Lift("vip", 0.5, None, 30 * DAY, AS_OF, t, h, conversion, *_)
    assert lift.verdict() == "vip: +3.1 points conversion (95 % CI +1.1 to +5.1), p = 0.002"
