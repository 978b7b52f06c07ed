"""Treated vs held-out members of one segment: what being in it changed.

For each customer who joined the segment since WHEN (their first joining since then), the
orders they placed after the evaluation that made them a member, up to the first of: their
leaving, the end of the window, the as-of time. An order at the very second of the joining
evaluation is not counted: that evaluation already saw it, so the segment's push cannot
have caused it. Every status but ``canceled`` counts; orders deleted in Magento do not;
revenue is ``base_grand_total`` (the base currency, so websites add up).

The side is the hash rule of :mod:`bridge.lift.holdout`, computed here in Python from the
segment code and the customer id, never read from or computed by the database: the same
customers are held out on SQLite, PostgreSQL and MariaDB. The comparison is an
intention-to-treat one: a held-out member stays held out whatever happened to them later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, and_, false, func, select

from bridge.lift import stats
from bridge.lift.holdout import check_share, position
from bridge.store.models import Order
from bridge.store.segment_tables import SegmentHistory, SegmentRecord

DEFAULT_WINDOW = timedelta(days=30)
# The longest window: a joining (at most 9000-12-31, the latest --as-of) plus this stays
# inside the calendar, and it is longer than any shop has kept its orders.
MAX_WINDOW = timedelta(days=100_000)
# Below this many members on a side the normal approximations behind the intervals are
# not to be trusted (and a difference is mostly noise): figures are shown, not judged.
MIN_MEMBERS = 30
CONFIDENCE = 0.95

H = SegmentHistory.__table__
O = Order.__table__  # noqa: E741 - the orders table, as in bridge.segments.compiler
S = SegmentRecord.__table__


class LiftError(ValueError):
    """The lift cannot be computed as asked (unknown segment, bad window...)."""


@dataclass(frozen=True)
class MemberOutcome:
    """One member's observed span and what they bought in it."""

    customer_id: int
    held_out: bool
    joined_at: datetime
    until: datetime
    orders: int
    revenue: Decimal


@dataclass(frozen=True)
class Side:
    """The figures of one side (treated or held out). Rates are None without members."""

    members: int
    buyers: int
    orders: int
    revenue: Decimal
    conversion: float | None  # buyers ÷ members
    orders_per_member: float | None
    revenue_per_member: float | None
    average_order_value: float | None  # revenue ÷ orders; None without orders
    # this side's own 95 % intervals (for charts): Wilson's for the conversion, Student's
    # t for the revenue per member; None where the data cannot give one
    conversion_interval: stats.Interval | None = None
    revenue_interval: stats.Interval | None = None


@dataclass(frozen=True)
class Difference:
    """Treated minus held out: absolute, relative (treated ÷ held out − 1), their 95 %
    intervals and the two-sided p-value. None where the data cannot give a figure."""

    absolute: float | None
    interval: stats.Interval | None
    relative: float | None
    relative_interval: stats.Interval | None
    p_value: float | None
    method: str


@dataclass(frozen=True)
class Lift:
    """The whole comparison for one segment."""

    segment: str
    holdout: float
    since: datetime | None  # None: since the segment's first evaluation
    window: timedelta
    as_of: datetime
    treated: Side
    held_out: Side
    conversion: Difference
    orders_per_member: Difference
    revenue_per_member: Difference
    average_order_value: Difference
    confidence: float = CONFIDENCE

    @property
    def too_few(self) -> bool:
        """Fewer than MIN_MEMBERS members on a side: the figures are not to be judged."""
        return min(self.treated.members, self.held_out.members) < MIN_MEMBERS

    def verdict(self) -> str:
        """One sentence on conversion, e.g. "vip: +3.1 points conversion (95 % CI +0.4 to
        +5.8), p = 0.02", or why there is no verdict."""
        t, h = self.treated.members, self.held_out.members
        if self.too_few:
            return (
                f"{self.segment}: too few to judge ({t} treated and {h} held-out members; "
                f"at least {MIN_MEMBERS} a side are needed)"
            )
        c = self.conversion
        if c.absolute is None or c.interval is None or c.p_value is None:
            return f"{self.segment}: no conversion figure"
        level = round(self.confidence * 100)
        p = format_p(c.p_value)
        return (
            f"{self.segment}: {_points(c.absolute)} points conversion "
            f"({level} % CI {_points(c.interval.low)} to {_points(c.interval.high)}), "
            f"p {p if p.startswith('<') else '= ' + p}"
        )


def _points(share: float) -> str:
    """A difference of proportions in percentage points, signed, one decimal."""
    value = round(share * 100, 1) + 0.0  # no "-0.0"
    return f"{value:+.1f}"


def format_p(p: float) -> str:
    """A p-value as people read it: two decimals from 0.1, two significant digits from
    0.01, three decimals from 0.001, "< 0.001" below."""
    if p < 0.001:
        return "< 0.001"
    if p >= 0.1:
        return f"{p:.2f}"
    return f"{p:.2g}" if p >= 0.01 else f"{p:.3f}"


# --- reading the store -------------------------------------------------------------------


def last_as_of(conn: Connection, code: str) -> datetime:
    """The as-of of the segment's last evaluation: membership is known up to there."""
    row = conn.execute(select(S.c.last_as_of).where(S.c.code == code)).first()
    if row is None:
        raise LiftError(f"segment {code!r} is not in the store: evaluate it first")
    if row.last_as_of is None:
        raise LiftError(f"segment {code!r} has not been evaluated yet")
    return row.last_as_of


def member_spans(
    conn: Connection,
    code: str,
    *,
    since: datetime | None,
    window: timedelta,
    as_of: datetime,
) -> dict[int, tuple[datetime, datetime]]:
    """customer id → (joined at, observed until) for each member who joined since ``since``.

    Their first joining at or after ``since`` (at or before ``as_of``) counts; the span ends
    at their next leaving, ``joined + window`` or ``as_of``, whichever comes first.
    """
    q = (
        select(H.c.customer_id, H.c.event, H.c.at)
        .where(H.c.segment_code == code, H.c.at <= as_of)
        .order_by(H.c.customer_id, H.c.at, H.c.id)
    )
    if since is not None:
        q = q.where(H.c.at >= since)
    spans: dict[int, tuple[datetime, datetime]] = {}
    open_since: dict[int, datetime] = {}  # joined, leaving not yet seen
    for cid, event, at in conn.execute(q):
        if cid in spans:
            continue
        if event == "joined" and cid not in open_since:
            open_since[cid] = at
        elif event == "left" and cid in open_since:
            joined = open_since.pop(cid)
            spans[cid] = (joined, min(at, joined + window, as_of))
    for cid, joined in open_since.items():
        spans[cid] = (joined, min(joined + window, as_of))
    return spans


def member_outcomes(
    conn: Connection,
    code: str,
    share: float,
    *,
    since: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
    as_of: datetime,
    link_guest_orders: bool = False,
) -> list[MemberOutcome]:
    """Each member's side, span, orders and revenue, in customer id order.

    ``link_guest_orders`` (the sync setting) also counts guest orders matched to the
    customer, as segment conditions do.
    """
    h = check_share(share)
    spans = member_spans(conn, code, since=since, window=window, as_of=as_of)
    orders: dict[int, int] = dict.fromkeys(spans, 0)
    revenue: dict[int, Decimal] = dict.fromkeys(spans, Decimal(0))
    if spans:
        owner = (
            func.coalesce(O.c.customer_id, O.c.guest_customer_id)
            if link_guest_orders
            else O.c.customer_id
        )
        joiners = select(H.c.customer_id).where(
            H.c.segment_code == code, H.c.event == "joined", H.c.at <= as_of
        )
        if since is not None:
            joiners = joiners.where(H.c.at >= since)
        q = select(owner.label("owner"), O.c.created_at, O.c.base_grand_total).where(
            and_(
                O.c.deleted == false(),
                func.coalesce(O.c.status, "") != "canceled",
                O.c.created_at > min(joined for joined, _ in spans.values()),
                O.c.created_at <= as_of,
                owner.in_(joiners.distinct()),
            )
        )
        for cid, created_at, total in conn.execute(q):
            span = spans.get(cid)
            if span is None or not span[0] < created_at <= span[1]:
                continue
            orders[cid] += 1
            revenue[cid] += total if total is not None else Decimal(0)
    return [
        MemberOutcome(cid, position(code, cid) < h, joined, until, orders[cid], revenue[cid])
        for cid, (joined, until) in sorted(spans.items())
    ]


# --- the comparison (pure) ----------------------------------------------------------------


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE
                  ) -> stats.Interval | None:
    """Student's t interval of one mean; None with fewer than two values or no spread."""
    if len(values) < 2:
        return None
    sample = stats.Sample.of(values)
    if not sample.variance > 0:
        return None
    half = stats.t_quantile(0.5 + confidence / 2, sample.n - 1) * math.sqrt(
        sample.variance / sample.n)
    return stats.Interval(sample.mean - half, sample.mean + half)


def side_of(outcomes: Sequence[MemberOutcome], confidence: float = CONFIDENCE) -> Side:
    """The figures of one side's members."""
    n = len(outcomes)
    buyers = sum(1 for o in outcomes if o.orders)
    orders = sum(o.orders for o in outcomes)
    revenue = sum((o.revenue for o in outcomes), Decimal(0))
    return Side(
        members=n,
        buyers=buyers,
        orders=orders,
        revenue=revenue,
        conversion=buyers / n if n else None,
        orders_per_member=orders / n if n else None,
        revenue_per_member=float(revenue) / n if n else None,
        average_order_value=float(revenue) / orders if orders else None,
        conversion_interval=stats.wilson_interval(buyers, n, confidence) if n else None,
        revenue_interval=mean_interval([float(o.revenue) for o in outcomes], confidence),
    )


def _ratio_minus_one(a: float | None, b: float | None) -> float | None:
    return a / b - 1 if a is not None and b else None


def _shifted(interval: stats.Interval | None) -> stats.Interval | None:
    return stats.Interval(interval.low - 1, interval.high - 1) if interval else None


def compare_proportions(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Difference:
    """Conversion: Newcombe's hybrid score interval, the pooled z-test's p-value, and the
    ratio's log-scale (Katz) interval for the relative difference."""
    method = "Newcombe hybrid score interval; pooled two-proportion z-test"
    if not n1 or not n2:
        return Difference(None, None, None, None, None, method)
    relative_interval = (
        _shifted(stats.risk_ratio_interval(x1, n1, x2, n2, confidence)) if x1 and x2 else None
    )
    return Difference(
        absolute=x1 / n1 - x2 / n2,
        interval=stats.newcombe_interval(x1, n1, x2, n2, confidence),
        relative=_ratio_minus_one(x1 / n1, x2 / n2),
        relative_interval=relative_interval,
        p_value=stats.two_proportion_p_value(x1, n1, x2, n2),
        method=method,
    )


def compare_means(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Difference:
    """A per-member mean (orders, revenue): Welch's interval and t-test, and the ratio's
    log-scale delta-method interval for the relative difference."""
    method = "Welch's interval and t-test (Welch–Satterthwaite degrees of freedom)"
    if not a or not b:
        return Difference(None, None, None, None, None, method)
    sa, sb = stats.Sample.of(a), stats.Sample.of(b)
    w = stats.welch(sa, sb, confidence)
    return Difference(
        absolute=sa.mean - sb.mean,
        interval=w.interval if w else None,
        relative=_ratio_minus_one(sa.mean, sb.mean),
        relative_interval=_shifted(stats.ratio_of_means_interval(sa, sb, confidence)),
        p_value=w.p_value if w else None,
        method=method,
    )


def compare(
    outcomes: Sequence[MemberOutcome], confidence: float = CONFIDENCE
) -> tuple[Side, Side, Difference, Difference, Difference, Difference]:
    """Treated side, held-out side, and the differences in conversion, orders per member,
    revenue per member and average order value.

    The average order value gets no interval: it is a ratio of two sums whose orders are
    clustered by customer (one buyer's orders are not independent), so a t interval over
    orders would be too narrow; revenue per member carries the same information soundly.
    """
    treated = [o for o in outcomes if not o.held_out]
    held = [o for o in outcomes if o.held_out]
    t, h = side_of(treated, confidence), side_of(held, confidence)
    conversion = compare_proportions(t.buyers, t.members, h.buyers, h.members, confidence)
    orders = compare_means([o.orders for o in treated], [o.orders for o in held], confidence)
    revenue = compare_means(
        [float(o.revenue) for o in treated], [float(o.revenue) for o in held], confidence
    )
    aov_t, aov_h = t.average_order_value, h.average_order_value
    aov = Difference(
        absolute=aov_t - aov_h if aov_t is not None and aov_h is not None else None,
        interval=None,
        relative=_ratio_minus_one(aov_t, aov_h),
        relative_interval=None,
        p_value=None,
        method="point estimate only (orders are clustered by customer)",
    )
    return t, h, conversion, orders, revenue, aov


def compute_lift(
    conn: Connection,
    code: str,
    share: float,
    *,
    since: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
    as_of: datetime | None = None,
    link_guest_orders: bool = False,
    confidence: float = CONFIDENCE,
) -> Lift:
    """The lift of segment ``code`` held out at ``share``.

    ``since`` None: every joining ever recorded, i.e. since the segment's first
    evaluation. ``as_of`` None: the segment's last evaluation (membership after it is not
    known yet).
    """
    if window <= timedelta(0):
        raise LiftError(f"the window must be positive, not {window}")
    if window > MAX_WINDOW:
        raise LiftError(f"the window must be at most {MAX_WINDOW.days} days, not {window.days}")
    if as_of is None:
        as_of = last_as_of(conn, code)
    if since is not None and since > as_of:
        raise LiftError(f"--since {since:%Y-%m-%d %H:%M:%S} is after the as-of time {as_of}")
    outcomes = member_outcomes(
        conn,
        code,
        share,
        since=since,
        window=window,
        as_of=as_of,
        link_guest_orders=link_guest_orders,
    )
    t, h, conversion, orders, revenue, aov = compare(outcomes, confidence)
    return Lift(
        segment=code,
        holdout=check_share(share),
        since=since,
        window=window,
        as_of=as_of,
        treated=t,
        held_out=h,
        conversion=conversion,
        orders_per_member=orders,
        revenue_per_member=revenue,
        average_order_value=aov,
        confidence=confidence,
    )
