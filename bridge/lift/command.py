"""``segbridge lift SEGMENT [--since WHEN] [--window 30d]``: treated against held-out members.

Reads the store only (no lock, a read-only store works). The share compared is the one the
segment's last evaluation applied (``segments.holdout``), so the sides are the ones the
push acted on; by default the members counted are those who joined since the segment's
first evaluation. When the share changed after some of them joined, one more line says
since when it holds and suggests ``--since`` that date, to compare only members who had
one treatment. How to read the table: docs/lift.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from bridge.errors import EXIT_OK, ConfigError
from bridge.lift.compute import (
    MAX_WINDOW,
    MIN_MEMBERS,
    Difference,
    Lift,
    LiftError,
    Side,
    compute_lift,
    format_p,
)
from bridge.lift.holdout import MAX_SHARE, check_share
from bridge.output import safe
from bridge.store.segment_tables import SegmentHistory, SegmentRecord
from bridge.timeutil import parse_age

H = SegmentHistory.__table__
S = SegmentRecord.__table__


def _fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _pct(share: float | None, digits: int = 2) -> str:
    return "-" if share is None else f"{share * 100:.{digits}f} %"


def _signed(value: float, digits: int) -> str:
    value = round(value, digits) + 0.0  # no "-0.00"
    return f"{value:+,.{digits}f}"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _digits(row: str) -> int:
    return 3 if row == "orders per member" else 2


ROWS = ("conversion", "orders per member", "revenue per member", "average order value")


def _difference_text(row: str, d: Difference) -> tuple[str, str, str]:
    """(absolute with its interval, relative with its interval, p-value) as printed."""
    if d.absolute is None:
        return "-", "-", "-"
    if row == "conversion":  # percentage points
        absolute = f"{_signed(d.absolute * 100, 1)} points"
        if d.interval:
            absolute += (f" ({_signed(d.interval.low * 100, 1)} to "
                         f"{_signed(d.interval.high * 100, 1)})")
    else:
        n = _digits(row)
        absolute = _signed(d.absolute, n)
        if d.interval:
            absolute += f" ({_signed(d.interval.low, n)} to {_signed(d.interval.high, n)})"
    relative = "-" if d.relative is None else f"{_signed(d.relative * 100, 0)} %"
    if d.relative is not None and d.relative_interval is not None:
        relative += (f" ({_signed(d.relative_interval.low * 100, 0)} to "
                     f"{_signed(d.relative_interval.high * 100, 0)} %)")
    p = "-" if d.p_value is None else format_p(d.p_value)
    return absolute, relative, p


def _side_value(row: str, side: Side) -> str:
    if row == "conversion":
        return _pct(side.conversion)
    if row == "orders per member":
        return _num(side.orders_per_member, 3)
    if row == "revenue per member":
        return _num(side.revenue_per_member, 2)
    return _num(side.average_order_value, 2)


def _differences(lift: Lift) -> dict[str, Difference]:
    return {
        "conversion": lift.conversion,
        "orders per member": lift.orders_per_member,
        "revenue per member": lift.revenue_per_member,
        "average order value": lift.average_order_value,
    }


def revenue_verdict(lift: Lift) -> str | None:
    """Revenue per member in one sentence, or None when there is no figure to judge."""
    d = lift.revenue_per_member
    if lift.too_few or d.absolute is None or d.interval is None or d.p_value is None:
        return None
    p = format_p(d.p_value)
    return (f"{lift.segment}: {_signed(d.absolute, 2)} revenue per member "
            f"({round(lift.confidence * 100)} % CI {_signed(d.interval.low, 2)} to "
            f"{_signed(d.interval.high, 2)}), p {p if p.startswith('<') else '= ' + p}")


def lift_lines(lift: Lift) -> list[str]:
    """The lift as a table of text lines (shop data made safe for a terminal)."""
    since = (f"members who joined since {_fmt_time(lift.since)}" if lift.since
             else "every member who joined since the first evaluation")
    lines = [
        f"Lift of {safe(lift.segment)} (holdout {lift.holdout * 100:g} %): {since}, their "
        f"orders within {lift.window.days} days of joining, as of {_fmt_time(lift.as_of)} UTC",
        "",
    ]
    head = (f"{'':<20} {'treated':>12} {'held out':>12}  "
            f"{'difference (95 % CI)':<34} {'relative (95 % CI)':<22} {'p':>7}")
    lines.append(head)
    t, h = lift.treated, lift.held_out
    for label, a, b in (("members", t.members, h.members), ("buyers", t.buyers, h.buyers),
                        ("orders", t.orders, h.orders)):
        lines.append(f"{label:<20} {a:>12,} {b:>12,}")
    lines.append(f"{'revenue':<20} {float(t.revenue):>12,.2f} {float(h.revenue):>12,.2f}")
    for row, d in _differences(lift).items():
        absolute, relative, p = _difference_text(row, d)
        lines.append(f"{row:<20} {_side_value(row, t):>12} {_side_value(row, h):>12}  "
                     f"{absolute:<34} {relative:<22} {p:>7}".rstrip())
    lines.append("")
    if lift.too_few:
        lines.append(f"Too few to judge: fewer than {MIN_MEMBERS} members on a side; the "
                     "figures are shown, not judged (docs/lift.md: how long to wait).")
    lines.append(lift.verdict())
    revenue = revenue_verdict(lift)
    if revenue:
        lines.append(revenue)
    lines.append("Revenue in the base currency (base_grand_total); average order value has "
                 "no interval (a buyer's orders are not independent).")
    return lines


def _interval(d: Difference) -> dict[str, Any]:
    return {
        "absolute": d.absolute,
        "low": d.interval.low if d.interval else None,
        "high": d.interval.high if d.interval else None,
        "relative": d.relative,
        "relative_low": d.relative_interval.low if d.relative_interval else None,
        "relative_high": d.relative_interval.high if d.relative_interval else None,
        "p_value": d.p_value,
        "method": d.method,
    }


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "members": side.members,
        "buyers": side.buyers,
        "orders": side.orders,
        "revenue": float(side.revenue),
        "conversion": side.conversion,
        "orders_per_member": side.orders_per_member,
        "revenue_per_member": side.revenue_per_member,
        "average_order_value": side.average_order_value,
        "conversion_interval": _pair(side.conversion_interval),
        "revenue_per_member_interval": _pair(side.revenue_interval),
    }


def _pair(interval: Any) -> list[float] | None:
    return [interval.low, interval.high] if interval is not None else None


def lift_json(lift: Lift) -> dict[str, Any]:
    """The lift as the ``--json`` output prints it."""
    return {
        "segment": lift.segment,
        "holdout": lift.holdout,
        "since": _fmt_time(lift.since) if lift.since else None,
        "window_days": lift.window.days,
        "as_of": _fmt_time(lift.as_of),
        "confidence": lift.confidence,
        "too_few": lift.too_few,
        "verdict": lift.verdict(),
        "treated": _side_json(lift.treated),
        "held_out": _side_json(lift.held_out),
        "differences": {
            "conversion": _interval(lift.conversion),
            "orders_per_member": _interval(lift.orders_per_member),
            "revenue_per_member": _interval(lift.revenue_per_member),
            "average_order_value": _interval(lift.average_order_value),
        },
    }


def segment_lift(
    conn: Connection,
    code: str,
    *,
    since: datetime | None = None,
    window: timedelta = timedelta(days=30),
    link_guest_orders: bool = False,
    file_share: float | None = None,
    source: str | None = None,
) -> Lift:
    """The lift of ``code`` at the share of its last evaluation; ``since`` None: since
    the segment's first evaluation. A segment without a holdout is a ConfigError in one
    line."""
    rec = conn.execute(select(S.c.holdout, S.c.holdout_since, S.c.last_as_of)
                       .where(S.c.code == code)).first()
    where = source or f"the segment file of {code}"
    if rec is None or rec.last_as_of is None:
        raise ConfigError([f"{code}: the segment has not been evaluated yet: run "
                           "`segbridge evaluate` first"])
    try:
        share = check_share(float(rec.holdout or 0))
    except ValueError:  # written into the store by hand: evaluate sets it from the file
        raise ConfigError([f"{code}: the store holds holdout = {rec.holdout!r}, not a share "
                           f"from 0 to {MAX_SHARE}: run `segbridge evaluate` to take it from "
                           f"{where}"]) from None
    if share == 0:
        if file_share:
            raise ConfigError([f"{code}: holdout = {file_share:g} in {where} is not applied "
                               "yet: run `segbridge evaluate` (or `run`) first"])
        raise ConfigError([f"{code}: the segment has no holdout, so there is nobody to "
                           f"compare with: set holdout (0 to 0.5) in {where} and evaluate "
                           "(docs/lift.md)"])
    try:
        return compute_lift(conn, code, share, since=since, window=window,
                            link_guest_orders=link_guest_orders)
    except LiftError as exc:
        raise ConfigError([f"{code}: {exc}"]) from None


def share_changed_at(conn: Connection, code: str, since: datetime | None,
                     as_of: datetime) -> datetime | None:
    """When the current share took effect, if some member counted from ``since`` joined
    before then (their side was the old share's for a while); else None."""
    took_effect = conn.execute(select(S.c.holdout_since).where(S.c.code == code)).scalar()
    if took_effect is None or (since is not None and since >= took_effect):
        return None
    earlier = select(H.c.id).where(H.c.segment_code == code, H.c.event == "joined",
                                   H.c.at < took_effect, H.c.at <= as_of)
    if since is not None:
        earlier = earlier.where(H.c.at >= since)
    return took_effect if conn.execute(earlier.limit(1)).first() is not None else None


def share_changed_line(lift: Lift, took_effect: datetime) -> str:
    """The one line that says the share changed after some counted members joined."""
    return (f"note: holdout = {lift.holdout:g} holds since {_fmt_time(took_effect)} UTC; "
            "members who joined before then had the earlier share's treatment for a while: "
            f"`--since {took_effect:%Y-%m-%dT%H:%M:%S}` compares only members who had one")


def cmd_lift(ctx: Any, args: argparse.Namespace) -> int:
    """Treated against held-out members of one segment: table (default) or ``--json``."""
    from bridge.segments.command import _load, _open_readonly

    config = ctx.config()
    try:
        window = parse_age(args.window)
    except ValueError as exc:
        raise ConfigError([f"--window: {exc}"]) from None
    except OverflowError:  # more days than a timedelta holds
        window = MAX_WINDOW + timedelta(days=1)
    if window <= timedelta(0):
        raise ConfigError([f"--window: {args.window!r} is not a positive number of days"])
    if window > MAX_WINDOW:
        raise ConfigError([f"--window: {args.window!r} is longer than {MAX_WINDOW.days} days"])
    segments = {s.code: s for s in _load(ctx, config)}
    seg = segments.get(args.segment)
    engine = _open_readonly(config)
    try:
        with engine.connect() as conn:
            if seg is None and conn.execute(select(S.c.code).where(S.c.code == args.segment)
                                            ).first() is None:
                raise ConfigError([f"{safe(args.segment)}: no segment has this code"])
            lift = segment_lift(
                conn, args.segment, since=args.since, window=window,
                link_guest_orders=bool(config.sync.link_guest_orders),
                file_share=seg.holdout if seg else None,
                source=str(seg.source) if seg else None,
            )
            took_effect = share_changed_at(conn, args.segment, lift.since, lift.as_of)
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(lift_json(lift) | {
            "share_changed_at": _fmt_time(took_effect) if took_effect else None})
        return EXIT_OK
    if seg is not None and float(seg.holdout) != lift.holdout and not ctx.quiet:
        print(f"note: {seg.source} now says holdout = {seg.holdout:g}; these figures use "
              f"{lift.holdout:g}, the share of the last evaluation", file=sys.stderr)
    lines = lift_lines(lift)
    if took_effect is not None:
        lines.insert(1, share_changed_line(lift, took_effect))
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK
