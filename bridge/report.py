"""``segbridge report``: one self-contained HTML page about the segments and the runs.

Everything is inline (CSS and SVG charts drawn here), so the file can be mailed, opened
from disk on a machine without network, or archived next to an incident ticket. It only
reads the store and takes no lock. Each section says plainly when it has no data yet
rather than drawing an empty chart.

Why this file is long (about 900 lines): it is three parts of one page, marked by their
``# ---`` headings: reading the store (each section's query), drawing the SVG charts by
hand (no chart library, so the page stays one self-contained file) and the page itself.
The parts share the data classes and the escaping, and each chart is only ever drawn for
this page; moving them apart would spread one page over several modules without making any
of it reusable.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, Table, func, inspect, select
from sqlalchemy.engine import make_url

from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

# Series colours (the screenshot test looks for these exact pixels).
PALETTE = ("#2563eb", "#ea580c", "#7c3aed", "#0d9488", "#db2777", "#65a30d", "#0284c7",
           "#b45309", "#4338ca", "#be123c")
JOIN_COLOR = "#16a34a"
LEAVE_COLOR = "#dc2626"
BEFORE_COLOR = "#94a3b8"
AFTER_COLOR = "#0f766e"
TREATED_COLOR = "#1d4ed8"  # lift: the treated side
HELD_OUT_COLOR = "#f59e0b"  # lift: the held-out side
WHISKER_COLOR = "#0f172a"  # lift: the 95 % intervals

MAX_SIZE_POINTS = 400  # evaluations drawn in the size chart (the newest)
MAX_CHURN_RUNS = 30  # runs drawn in the joins/leaves chart
MAX_GROUPS = 15
MAX_RUNS = 25


# --- the data ----------------------------------------------------------------------------


@dataclass
class SegmentInfo:
    code: str
    name: str
    members: int
    group: str | None = None
    active: bool = True
    last_changed_at: datetime | None = None


@dataclass
class Churn:
    label: str  # "run 12" or "eval 7"
    at: datetime | None
    joined: int
    left: int


@dataclass
class GroupCount:
    code: str
    before: int
    after: int


@dataclass
class ReportData:
    generated_at: datetime
    store: str
    segments: list[SegmentInfo] = field(default_factory=list)
    sizes: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    churn: list[Churn] = field(default_factory=list)
    groups: list[GroupCount] = field(default_factory=list)
    last_push: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    customers: int = 0
    lifts: list[Any] = field(default_factory=list)  # bridge.lift.compute.Lift per holdout


class _Tables:
    """The store's tables as reflected now: a section whose table is missing is skipped."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.names = set(inspect(engine).get_table_names())
        self.meta = MetaData()
        self._cache: dict[str, Table] = {}

    def get(self, name: str) -> Table | None:
        if name not in self.names:
            return None
        if name not in self._cache:
            self._cache[name] = Table(name, self.meta, autoload_with=self.engine)
        return self._cache[name]


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(store)"


def collect(
    engine: Engine, store_url: str | None = None, *, link_guest_orders: bool = False
) -> ReportData:
    """Read everything the page shows, with queries that stay cheap at 1M customers
    (aggregates in SQL; only per-evaluation and per-group rows come back; the lift of a
    segment with a holdout reads its joiners' orders).

    ``link_guest_orders`` (the sync setting): the lift counts guest orders matched to a
    customer too, as ``segbridge lift`` does."""
    t = _Tables(engine)
    data = ReportData(generated_at=utcnow(), store=_safe_url(store_url or str(engine.url)))
    with engine.connect() as conn:
        data.segments = _segments(conn, t)
        steps, rows = _history_window(conn, t)
        data.sizes = _sizes(steps, rows, {s.code: s.members for s in data.segments})
        data.churn = _churn(steps, rows)
        data.groups, data.last_push = _groups(conn, t)
        data.runs = _runs(conn, t)
        data.lifts = _lifts(conn, t, link_guest_orders)
        cust = t.get("customers")
        if cust is not None:
            data.customers = int(
                conn.execute(
                    select(func.count()).select_from(cust).where(cust.c.deleted.is_(False))
                ).scalar_one()
            )
    return data


def _segments(conn: Any, t: _Tables) -> list[SegmentInfo]:
    counts: dict[str, int] = {}
    members = t.get("segment_members")
    if members is not None:
        for code, n in conn.execute(
            select(members.c.segment_code, func.count()).group_by(members.c.segment_code)
        ):
            counts[code] = int(n)
    out: dict[str, SegmentInfo] = {}
    seg = t.get("segments")
    if seg is not None:
        for row in conn.execute(select(seg).order_by(seg.c.code)).mappings():
            out[row["code"]] = SegmentInfo(
                code=row["code"],
                name=row.get("name") or row["code"],
                members=counts.get(row["code"], 0),
                group=row.get("group_code"),
                active=bool(row.get("active", True)),
                last_changed_at=row.get("last_changed_at"),
            )
    for code, n in counts.items():
        out.setdefault(code, SegmentInfo(code=code, name=code, members=n))
    hist = t.get("segment_history")
    if hist is not None:
        for (code,) in conn.execute(select(hist.c.segment_code).distinct()):
            out.setdefault(code, SegmentInfo(code=code, name=code, members=0))
    return sorted(out.values(), key=lambda s: (-s.members, s.code))


def _lifts(conn: Any, t: _Tables, link_guest_orders: bool) -> list[Any]:
    """The lift of each segment with a holdout at its last evaluation, as ``segbridge
    lift`` computes it by default (members who joined since the first evaluation)."""
    seg = t.get("segments")
    if seg is None or "holdout" not in seg.c or t.get("segment_history") is None:
        return []
    from bridge.lift.compute import compute_lift

    out = []
    for code, share, as_of in conn.execute(
        select(seg.c.code, seg.c.holdout, seg.c.last_as_of)
        .where(seg.c.holdout > 0, seg.c.last_as_of.is_not(None))
        .order_by(seg.c.code)
    ):
        try:
            out.append(compute_lift(conn, code, float(share), as_of=as_of,
                                    link_guest_orders=link_guest_orders))
        except ValueError as exc:  # a share outside 0..0.5 written by hand: skipped
            log.warning("report: no lift for segment %s: %s", code, exc)
    return out


def _history_window(conn: Any, t: _Tables) -> tuple[list[tuple[Any, datetime]], list[Any]]:
    """The newest evaluations (id, as-of) and the history of just those, aggregated.

    Only the window is read, so the page costs the same after a year of runs; sizes are
    then rebuilt backwards from today's member counts.
    """
    hist, evals = t.get("segment_history"), t.get("evaluations")
    if hist is None:
        return [], []
    if evals is not None and "evaluation_id" in hist.c:
        window = conn.execute(
            select(evals.c.id, evals.c.as_of, evals.c.run_id).order_by(evals.c.id.desc())
            .limit(max(MAX_SIZE_POINTS, MAX_CHURN_RUNS))
        ).all()
        if window:
            steps = [(("e", i, run), at) for i, at, run in reversed(window)]
            rows = conn.execute(
                select(hist.c.segment_code, hist.c.evaluation_id, hist.c.run_id, hist.c.event,
                       func.count())
                .where(hist.c.evaluation_id >= steps[0][0][1])
                .group_by(hist.c.segment_code, hist.c.evaluation_id, hist.c.run_id,
                          hist.c.event)
            ).all()
            key_of = {key[1]: key for key, _ in steps}
            return steps, [(c, key_of[e], r, ev, n) for c, e, r, ev, n in rows if e in key_of]
    # No evaluation records: one step per as-of time.
    rows = conn.execute(
        select(hist.c.segment_code, hist.c.at, hist.c.run_id, hist.c.event, func.count())
        .group_by(hist.c.segment_code, hist.c.at, hist.c.run_id, hist.c.event)
    ).all()
    ats = sorted({at for _, at, _, _, _ in rows})[-max(MAX_SIZE_POINTS, MAX_CHURN_RUNS):]
    keep = set(ats)
    return [(("t", at, None), at) for at in ats], [
        (c, ("t", at, None), r, ev, n) for c, at, r, ev, n in rows if at in keep
    ]


def _sizes(
    steps: list[tuple[Any, datetime]], rows: list[Any], current: dict[str, int]
) -> dict[str, list[tuple[datetime, int]]]:
    """Each segment's size after each evaluation of the window: today's count, with the
    joins and leaves undone one evaluation at a time going back."""
    steps = steps[-MAX_SIZE_POINTS:]
    delta: dict[tuple[str, Any], int] = defaultdict(int)
    for code, key, _run, event, n in rows:
        delta[(code, key)] += int(n) if event == "joined" else -int(n)
    codes = sorted({code for code, _ in delta} | {c for c, n in current.items() if n})
    out: dict[str, list[tuple[datetime, int]]] = {}
    for code in codes:
        size = current.get(code, 0)
        points: list[tuple[datetime, int]] = []
        for key, when in reversed(steps):
            points.append((when, max(0, size)))
            size -= delta.get((code, key), 0)
        points.reverse()
        # before its first join a new segment did not exist: no flat zero line
        first = next((i for i, (key, _) in enumerate(steps) if (code, key) in delta), None)
        if first is not None and all(n == 0 for _, n in points[:first]):
            points = points[first:]
        if points:
            out[code] = sorted(points, key=lambda p: p[0])
    return out


def _churn(steps: list[tuple[Any, datetime]], rows: list[Any]) -> list[Churn]:
    """Joins and leaves per run (per evaluation when it belongs to no run)."""
    order = {key: i for i, (key, _) in enumerate(steps)}
    when = dict(steps)
    acc: dict[Any, Churn] = {}
    rank: dict[Any, int] = {}

    def slot(key: Any, run_id: Any) -> Churn:
        ident = ("run", run_id) if run_id is not None else key
        if ident not in acc:
            label = f"run {run_id}" if run_id is not None else (
                f"eval {key[1]}" if key[0] == "e" else _fmt_time(key[1]))
            acc[ident] = Churn(label=label, at=when.get(key), joined=0, left=0)
        rank[ident] = min(rank.get(ident, order[key]), order[key])
        return acc[ident]

    for key, _ in steps:  # evaluations that changed nothing still get their (empty) slot
        if key[0] == "e":
            slot(key, key[2])
    for _code, key, run_id, event, n in rows:
        c = slot(key, run_id)
        if event == "joined":
            c.joined += int(n)
        else:
            c.left += int(n)
    return [acc[k] for k in sorted(acc, key=lambda k: rank[k])][-MAX_CHURN_RUNS:]


def _group_names(conn: Any, t: _Tables) -> dict[int, str]:
    """Group id -> code: the synced groups, then the push's own records (push_groups, and
    the group steps it applied), so that groups the last push created are named before
    the next sync brings them into the store."""
    names: dict[int, str] = {}
    grp = t.get("customer_groups")
    if grp is not None:
        names = {int(i): c for i, c in conn.execute(select(grp.c.id, grp.c.code))}
    pg = t.get("push_groups")
    if pg is not None:
        for gid, code in conn.execute(select(pg.c.group_id, pg.c.code)):
            names.setdefault(int(gid), code)
    steps = t.get("push_steps")
    if steps is not None:
        for gid, payload in conn.execute(
            select(steps.c.magento_id, steps.c.payload).where(
                steps.c.kind == "group", steps.c.state == "done", steps.c.magento_id.is_not(None)
            )
        ):
            p = payload if isinstance(payload, dict) else json.loads(payload or "{}")
            code = p.get("code") or p.get("to_code")
            if code:
                names.setdefault(int(gid), str(code))
    return names


def _groups(conn: Any, t: _Tables) -> tuple[list[GroupCount], dict[str, Any] | None]:
    """Customers per group before and after the last push that moved anyone.

    The moves are read from the push's own journal (its customer steps that Magento
    confirmed), not from the synced customers: right after a push the store's copy has
    not seen the moves yet, so a customer still synced in the group a move took them
    from is counted in the group it went to.
    """
    cust = t.get("customers")
    if cust is None:
        return [], None
    names = _group_names(conn, t)
    after: dict[int, int] = {
        int(g): int(n)
        for g, n in conn.execute(
            select(cust.c.group_id, func.count())
            .where(cust.c.deleted.is_(False))
            .group_by(cust.c.group_id)
        )
    }
    moves: list[tuple[int, int]] = []
    last: dict[str, Any] | None = None
    steps, batches = t.get("push_steps"), t.get("push_batches")
    if steps is not None and batches is not None:
        batch_id = conn.execute(
            select(func.max(steps.c.batch_id)).where(
                steps.c.kind == "customer", steps.c.state == "done"
            )
        ).scalar()
        if batch_id is not None:
            code_ids = {c.casefold(): i for i, c in names.items()}
            moved = 0
            for payload, written, synced, deleted in conn.execute(
                select(steps.c.payload, steps.c.magento_id, cust.c.group_id, cust.c.deleted)
                .select_from(steps.outerjoin(cust, cust.c.id == steps.c.customer_id))
                .where(
                    steps.c.batch_id == batch_id, steps.c.kind == "customer",
                    steps.c.state == "done",
                )
            ):
                moved += 1
                p = payload if isinstance(payload, dict) else json.loads(payload or "{}")
                src, dst = p.get("from"), p.get("to_id") or written
                if dst is None and p.get("to_code"):
                    dst = code_ids.get(str(p["to_code"]).casefold())
                if src is None or dst is None:
                    continue
                src, dst = int(src), int(dst)
                if synced is not None and int(synced) == src and not deleted and src != dst:
                    after[src] = after.get(src, 0) - 1  # not synced since the push
                    after[dst] = after.get(dst, 0) + 1
                moves.append((src, dst))
            row = conn.execute(select(batches).where(batches.c.id == batch_id)).mappings().first()
            last = {
                "batch_id": batch_id,
                "moved": moved,
                "created_at": row.get("created_at") if row else None,
                "status": row.get("status") if row else None,
                "run_id": row.get("run_id") if row else None,
            }
    before = dict(after)
    for src, dst in moves:
        before[src] = before.get(src, 0) + 1
        before[dst] = before.get(dst, 0) - 1
    ids = sorted(set(after) | set(before), key=lambda g: (-after.get(g, 0), g))
    out = [
        GroupCount(code=names.get(g, f"group {g}"), before=max(0, before.get(g, 0)),
                   after=max(0, after.get(g, 0)))
        for g in ids
        if before.get(g, 0) or after.get(g, 0)
    ]
    return out[:MAX_GROUPS], last


def _runs(conn: Any, t: _Tables) -> list[dict[str, Any]]:
    runs = t.get("runs")
    if runs is None:
        return []
    rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(MAX_RUNS)).mappings()
    out = []
    for r in rows:
        d = dict(r)
        if isinstance(d.get("counts"), str):
            try:
                d["counts"] = json.loads(d["counts"])
            except ValueError:
                pass
        out.append(d)
    return out


# --- SVG charts ------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``top`` (steps of 1, 2 or 5 × 10^k)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1.0)
    n = math.ceil(top / step)
    return [i * step for i in range(n + 1)]


def _fmt_num(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M".replace(".0M", "M")
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    return f"{int(v):,}"


def _fmt_time(d: datetime | None, with_date: bool = True) -> str:
    if d is None:
        return "—"
    return d.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")


def line_chart(
    series: dict[str, list[tuple[datetime, int]]], colors: dict[str, str],
    width: int = 1040, height: int = 320,
) -> str:
    """Segment sizes over time: one polyline (with point markers) per segment."""
    left, right, top, bottom = 64, 20, 14, 44
    pw, ph = width - left - right, height - top - bottom
    times = [w for pts in series.values() for w, _ in pts]
    t0, t1 = min(times), max(times)
    if t1 <= t0:
        t0, t1 = t0 - timedelta(hours=1), t1 + timedelta(hours=1)
    span = (t1 - t0).total_seconds()
    ymax = max((n for pts in series.values() for _, n in pts), default=1)
    ticks = nice_ticks(ymax)
    yscale = ph / ticks[-1]

    def x(w: datetime) -> float:
        return left + pw * (w - t0).total_seconds() / span

    def y(n: float) -> float:
        return top + ph - n * yscale

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="segment sizes over time">']
    for tv in ticks:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tv):.1f}" y2="{y(tv):.1f}"'
                     ' class="grid"/>')
        parts.append(f'<text x="{left - 8}" y="{y(tv) + 4:.1f}" class="ylab">{_fmt_num(tv)}'
                     "</text>")
    fmt = ("%H:%M:%S" if span <= 900 else "%H:%M" if t0.date() == t1.date()
           else "%m-%d %H:%M" if span <= 60 * 86400 else "%Y-%m-%d")
    for i in range(5):
        w = t0 + timedelta(seconds=span * i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(w):.1f}" y="{height - 16}" class="xlab" '
                     f'text-anchor="{anchor}">{_e(w.strftime(fmt))}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + ph}" y2="{top + ph}" '
                 'class="axis"/>')
    for code, pts in series.items():
        color = colors[code]
        coords = " ".join(f"{x(w):.1f},{y(n):.1f}" for w, n in pts)
        if len(pts) == 1:  # one evaluation: a short flat stroke so it reads as a level
            (w, n), = pts
            coords = f"{x(w) - 12:.1f},{y(n):.1f} {x(w) + 12:.1f},{y(n):.1f}"
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                     'stroke-width="3" stroke-linejoin="round" stroke-linecap="round">'
                     f"<title>{_e(code)}</title></polyline>")
        if len(pts) <= 60:
            for w, n in pts:
                parts.append(f'<circle cx="{x(w):.1f}" cy="{y(n):.1f}" r="4" fill="{color}">'
                             f"<title>{_e(code)}: {n} at {_e(_fmt_time(w))}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def churn_chart(churn: Sequence[Churn], width: int = 1040, height: int = 300) -> str:
    """Joins above the line, leaves below it, one pair of bars per run."""
    left, right, top, bottom = 64, 20, 14, 48
    pw, ph = width - left - right, height - top - bottom
    peak = max([c.joined for c in churn] + [c.left for c in churn] + [1])
    ticks = nice_ticks(peak, 3)
    half = ph / 2
    scale = half / ticks[-1]
    mid = top + half
    slot = pw / max(len(churn), 1)
    bar = max(min(slot * 0.6, 48), 3)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="joins and leaves per run">']
    for tv in ticks:
        for sign in (1, -1):
            if tv == 0 and sign == -1:
                continue
            yy = mid - sign * tv * scale
            parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" '
                         'class="grid"/>')
            label = ("+" if sign > 0 and tv else "−" if tv else "") + _fmt_num(tv)
            parts.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" class="ylab">{label}</text>')
    every = max(1, math.ceil(len(churn) / 12))
    for i, c in enumerate(churn):
        cx = left + slot * (i + 0.5)
        hj, hl = c.joined * scale, c.left * scale
        tip = f"{c.label}: +{c.joined} joined, −{c.left} left"
        if hj:
            parts.append(f'<rect x="{cx - bar / 2:.1f}" y="{mid - hj:.1f}" width="{bar:.1f}" '
                         f'height="{hj:.1f}" fill="{JOIN_COLOR}"><title>{_e(tip)}</title></rect>')
        if hl:
            parts.append(f'<rect x="{cx - bar / 2:.1f}" y="{mid:.1f}" width="{bar:.1f}" '
                         f'height="{hl:.1f}" fill="{LEAVE_COLOR}"><title>{_e(tip)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{cx:.1f}" y="{height - 26}" class="xlab" '
                         f'text-anchor="middle">{_e(c.label)}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{mid}" y2="{mid}" class="axis"/>')
    parts.append("</svg>")
    return "".join(parts)


def groups_chart(groups: Sequence[GroupCount], width: int = 1040) -> str:
    """Customers per group: a grey bar before the last push, a coloured one after."""
    left, right, top = 170, 90, 8
    row_h, bar_h = 44, 15
    height = top + row_h * len(groups) + 8
    pw = width - left - right
    peak = max([g.before for g in groups] + [g.after for g in groups] + [1])
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="customers per group">']
    for i, g in enumerate(groups):
        y0 = top + i * row_h
        parts.append(f'<text x="{left - 10}" y="{y0 + row_h / 2 + 4:.1f}" class="ylab">'
                     f"{_e(g.code[:24])}</text>")
        for j, (n, color, what) in enumerate(((g.before, BEFORE_COLOR, "before"),
                                              (g.after, AFTER_COLOR, "after"))):
            w = pw * n / peak
            yy = y0 + 5 + j * (bar_h + 3)
            if n:
                parts.append(f'<rect x="{left}" y="{yy:.1f}" width="{max(w, 2):.1f}" '
                             f'height="{bar_h}" fill="{color}"><title>{_e(g.code)} {what}: '
                             f"{n}</title></rect>")
            parts.append(f'<text x="{left + max(w, 2) + 6:.1f}" y="{yy + bar_h - 3:.1f}" '
                         f'class="vlab">{n:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def lift_chart(lift: Any, width: int = 1040) -> str:
    """Conversion and revenue per member, treated against held out: a bar each with its
    95 % interval as a whisker, one panel per figure."""
    panels = [
        ("conversion", lift.treated.conversion, lift.treated.conversion_interval,
         lift.held_out.conversion, lift.held_out.conversion_interval, True),
        ("revenue per member", lift.treated.revenue_per_member, lift.treated.revenue_interval,
         lift.held_out.revenue_per_member, lift.held_out.revenue_interval, False),
    ]
    gap, label_w, top, row_h, bar_h = 40, 86, 24, 38, 20
    panel_w = (width - gap) / 2
    height = top + 2 * row_h + 30
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="lift of {_e(lift.segment)}">']
    for i, (title, v1, iv1, v2, iv2, is_share) in enumerate(panels):
        x0 = i * (panel_w + gap) + label_w
        pw = panel_w - label_w - 70
        highs = [v for v in (v1, v2) if v is not None]
        highs += [iv.high for iv in (iv1, iv2) if iv is not None]
        peak = max(highs, default=0.0)
        ticks = _lift_ticks(peak * (100 if is_share else 1))
        scale = pw / ticks[-1]
        factor = 100 if is_share else 1

        def x(v: float, x0: float = x0, scale: float = scale, factor: int = factor) -> float:
            return x0 + max(v, 0.0) * factor * scale

        parts.append(f'<text x="{x0}" y="14" class="vlab" font-weight="600">{_e(title)}'
                     f"{' (%)' if is_share else ''}, 95 % intervals</text>")
        for tv in ticks:
            xx = x0 + tv * scale
            parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" '
                         f'y2="{top + 2 * row_h}" class="grid"/>')
            parts.append(f'<text x="{xx:.1f}" y="{height - 8}" class="xlab" '
                         f'text-anchor="middle">{_e(_tick(tv))}</text>')
        for j, (side, v, iv, color) in enumerate((("treated", v1, iv1, TREATED_COLOR),
                                                  ("held out", v2, iv2, HELD_OUT_COLOR))):
            y0 = top + j * row_h + (row_h - bar_h) / 2
            parts.append(f'<text x="{x0 - 8}" y="{y0 + bar_h / 2 + 4:.1f}" class="ylab">'
                         f"{side}</text>")
            if v is None:
                continue
            shown = f"{v * 100:.2f} %" if is_share else f"{v:,.2f}"
            if iv is not None:
                shown += (f" ({iv.low * 100:.2f} to {iv.high * 100:.2f} %)" if is_share
                          else f" ({iv.low:,.2f} to {iv.high:,.2f})")
            parts.append(f'<rect x="{x0}" y="{y0:.1f}" width="{max(x(v) - x0, 1):.1f}" '
                         f'height="{bar_h}" fill="{color}"><title>{_e(side)}: '
                         f"{_e(shown)}</title></rect>")
            end = x(v)
            if iv is not None:
                lo, hi, mid = x(iv.low), x(iv.high), y0 + bar_h / 2
                end = hi
                parts.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
                             f'stroke="{WHISKER_COLOR}" stroke-width="2"/>')
                for xx in (lo, hi):
                    parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{mid - 7:.1f}" '
                                 f'y2="{mid + 7:.1f}" stroke="{WHISKER_COLOR}" '
                                 'stroke-width="2"/>')
            parts.append(f'<text x="{end + 6:.1f}" y="{y0 + bar_h / 2 + 4:.1f}" '
                         f'class="vlab">{_e(f"{v * 100:.1f} %" if is_share else f"{v:,.2f}")}'
                         "</text>")
        parts.append(f'<line x1="{x0}" x2="{x0}" y1="{top}" y2="{top + 2 * row_h}" '
                     'class="axis"/>')
    parts.append("</svg>")
    return "".join(parts)


def _lift_ticks(top: float) -> list[float]:
    """Axis ticks from 0 past ``top`` (fractions allowed: conversion of a few percent)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return [i * step for i in range(math.ceil(top / step) + 1)]


def _tick(v: float) -> str:
    return f"{v:,.0f}" if v >= 10 or v == int(v) else f"{v:g}"


def _lift_html(lift: Any) -> str:
    """One segment's lift: its verdict in words, the chart, and the counts."""
    from bridge.lift.command import revenue_verdict

    t, h = lift.treated, lift.held_out
    since = (f"members who joined since {_e(_fmt_time(lift.since))} UTC" if lift.since
             else "every member who joined")
    lines = [
        f'<h3 class="lift">{_e(lift.verdict())}</h3>',
        f'<p class="small">Holdout {lift.holdout * 100:g} %: {since}, their orders within '
        f"{lift.window.days} days of joining, up to {_e(_fmt_time(lift.as_of))} UTC. Treated "
        f"{t.members:,} members ({t.buyers:,} bought), held out {h.members:,} "
        f"({h.buyers:,} bought).</p>",
    ]
    revenue = revenue_verdict(lift)
    if revenue:
        lines.append(f"<p>{_e(revenue)}</p>")
    if lift.too_few:
        lines.append('<p class="small">Too few to judge: the figures are shown, not judged; '
                     "wait for more members to join (docs/lift.md).</p>")
    lines.append(lift_chart(lift))
    return "".join(lines)


# --- the page --------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#1e293b;
 font:14px/1.45 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:0 0 10px}
.sub{color:#64748b;margin:0 0 18px}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin-bottom:18px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:150px}
.card b{display:block;font-size:22px}
.card span{color:#64748b;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:16px 18px;
 margin:0 0 18px}
.chart{display:block;max-width:100%;height:auto}
.chart .grid{stroke:#e2e8f0;stroke-width:1}
.chart .axis{stroke:#475569;stroke-width:1}
.chart text{font-size:12px;fill:#475569}
.chart .ylab{text-anchor:end}
.chart .vlab{fill:#334155}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0 0 8px;padding:0;list-style:none}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.empty{color:#64748b;font-style:italic;margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #f1f5f9;vertical-align:top}
th{color:#475569;font-weight:600;border-bottom:1px solid #cbd5e1}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.st{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;background:#e2e8f0}
.st.ok{background:#dcfce7;color:#166534}.st.failed{background:#fee2e2;color:#991b1b}
.st.partial{background:#fef9c3;color:#854d0e}.st.running{background:#dbeafe;color:#1e40af}
.st.locked{background:#ede9fe;color:#5b21b6}.st.stopped{background:#ffedd5;color:#9a3412}
.small{color:#64748b;font-size:12px}
h3.lift{font-size:15px;margin:14px 0 2px}
footer{color:#94a3b8;font-size:12px;text-align:center}
"""


def _legend(items: Iterable[tuple[str, str]]) -> str:
    lis = "".join(f'<li><i style="background:{c}"></i>{_e(label)}</li>' for label, c in items)
    return f'<ul class="legend">{lis}</ul>'


def _counts_text(counts: Any, kind: str | None = None) -> str:
    """``sync: customers 127, orders 7 · evaluate: joined 73, left 44 · push: done 8``."""
    from bridge.scheduler import summarize_counts

    stages = summarize_counts(counts, kind)
    parts = []
    for stage, numbers in stages.items():
        shown = [f"{k} {v:,}" for k, v in numbers.items() if v or k in ("planned", "members")]
        if stage == "evaluate":
            shown = [f"{k} {numbers.get(k, 0):,}" for k in ("segments", "joined", "left")]
        parts.append(f"{stage}: {', '.join(shown) if shown else 'nothing'}")
    if not parts and isinstance(counts, dict):
        parts = [f"{k} {v}" for k, v in counts.items() if isinstance(v, (int, float))]
    text = " · ".join(parts)
    return text if len(text) <= 200 else text[:197] + "…"


def _duration(r: dict[str, Any]) -> str:
    s, e = r.get("started_at"), r.get("ended_at")
    if not isinstance(s, datetime) or not isinstance(e, datetime):
        return "—"
    sec = (e - s).total_seconds()
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.1f} min"


def render(data: ReportData) -> str:
    """The whole page as one string (no external resource of any kind)."""
    colors = {s.code: PALETTE[i % len(PALETTE)] for i, s in enumerate(
        sorted(data.segments, key=lambda s: (-s.members, s.code)))}
    for code in data.sizes:
        colors.setdefault(code, PALETTE[len(colors) % len(PALETTE)])
    last_run = data.runs[0] if data.runs else None
    cards = [
        (f"{len(data.segments)}", "segments"),
        (f"{sum(s.members for s in data.segments):,}", "memberships"),
        (f"{data.customers:,}", "customers in the store"),
        (
            f'<span class="st {_e(last_run.get("status"))}">{_e(last_run.get("status"))}</span>'
            if last_run else "—",
            f"last run {_e(_fmt_time(last_run.get('started_at')))}" if last_run else "no runs yet",
        ),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>segbridge report</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>segbridge report</h1>",
        f'<p class="sub">Generated {_e(_fmt_time(data.generated_at))} UTC · store '
        f"<code>{_e(data.store)}</code></p>",
        '<div class="cards">',
        *[f'<div class="card"><b>{v}</b><span>{label}</span></div>' for v, label in cards],
        "</div>",
    ]

    # segment sizes
    out.append('<section id="sizes"><h2>Segment sizes over time</h2>')
    if data.sizes:
        out.append(_legend((code, colors[code]) for code in sorted(
            data.sizes, key=lambda c: (-data.sizes[c][-1][1], c))))
        out.append(line_chart(data.sizes, colors))
        out.append('<p class="small">Members after each evaluation (x: the evaluation\'s '
                   "as-of time, UTC), rebuilt from the membership history.</p>")
    else:
        out.append('<p class="empty">No membership history yet: run '
                   "<code>segbridge evaluate</code>.</p>")
    out.append("</section>")

    # joins and leaves
    out.append('<section id="churn"><h2>Joins and leaves per run</h2>')
    if data.churn:
        out.append(_legend((("joined", JOIN_COLOR), ("left", LEAVE_COLOR))))
        out.append(churn_chart(data.churn))
    else:
        out.append('<p class="empty">No joins or leaves recorded yet.</p>')
    out.append("</section>")

    # groups
    out.append('<section id="groups"><h2>Customers per group, before and after the last push'
               "</h2>")
    if data.groups:
        lp = data.last_push
        if lp:
            out.append(
                f'<p class="small">Last push: batch {_e(lp["batch_id"])}'
                f'{" (run " + _e(lp["run_id"]) + ")" if lp.get("run_id") else ""}, '
                f"{_e(_fmt_time(lp.get('created_at')))} UTC, {lp['moved']:,} customers moved, "
                f"status {_e(lp.get('status'))}. “After” is the store's copy now, with the moves "
                "of that push that no sync has brought back yet.</p>"
            )
        else:
            out.append('<p class="small">No push has moved anyone yet: both bars show the '
                       "groups as synced now.</p>")
        out.append(_legend((("before the last push", BEFORE_COLOR),
                            ("after (now)", AFTER_COLOR))))
        out.append(groups_chart(data.groups))
    else:
        out.append('<p class="empty">No customers synced yet: run <code>segbridge sync</code>.'
                   "</p>")
    out.append("</section>")

    # lift
    out.append('<section id="lift"><h2>Measured lift: treated against held-out members</h2>')
    if data.lifts:
        out.append(_legend((("treated", TREATED_COLOR), ("held out", HELD_OUT_COLOR),
                            ("95 % interval", WHISKER_COLOR))))
        for lift in data.lifts:
            out.append(_lift_html(lift))
        out.append('<p class="small">Conversion: buyers ÷ members (Wilson intervals; the '
                   "difference's interval is Newcombe's). Revenue per member in the base "
                   "currency (t intervals; the difference's is Welch's). How to read it: "
                   "docs/lift.md.</p>")
    else:
        out.append('<p class="empty">No segment has a holdout: set <code>holdout</code> in a '
                   "segment file to measure what it is worth (docs/lift.md).</p>")
    out.append("</section>")

    # segments table
    if data.segments:
        out.append('<section id="segments"><h2>Segments</h2><table><thead><tr><th></th>'
                   "<th>code</th><th>name</th><th>group</th><th>members</th>"
                   "<th>last change (as-of)</th></tr></thead><tbody>")
        for s in data.segments:
            out.append(
                f'<tr><td><i style="display:inline-block;width:10px;height:10px;'
                f'background:{colors.get(s.code, "#ccc")}"></i></td><td>{_e(s.code)}</td>'
                f"<td>{_e(s.name)}{'' if s.active else ' <span class=small>(inactive)</span>'}"
                f"</td><td>{_e(s.group or '—')}</td><td class=n>{s.members:,}</td>"
                f"<td>{_e(_fmt_time(s.last_changed_at))}</td></tr>"
            )
        out.append("</tbody></table></section>")

    # runs
    out.append('<section id="runs"><h2>Recent runs</h2>')
    if data.runs:
        out.append("<table><thead><tr><th>#</th><th>kind</th><th>started (UTC)</th>"
                   "<th>took</th><th>status</th><th>counts</th><th>requests</th>"
                   "<th>retries</th><th>errors</th></tr></thead><tbody>")
        for r in data.runs:
            msg = r.get("message")
            out.append(
                f"<tr><td class=n>{_e(r.get('id'))}</td><td>{_e(r.get('kind'))}</td>"
                f"<td>{_e(_fmt_time(r.get('started_at')))}</td><td>{_duration(r)}</td>"
                f'<td><span class="st {_e(r.get("status"))}">{_e(r.get("status"))}</span></td>'
                f"<td>{_e(_counts_text(r.get('counts'), r.get('kind')))}"
                f"{'<br><span class=small>' + _e(str(msg)[:200]) + '</span>' if msg else ''}</td>"
                f"<td class=n>{_e(r.get('requests') or 0)}</td>"
                f"<td class=n>{_e(r.get('retries') or 0)}</td>"
                f"<td class=n>{_e(r.get('errors') or 0)}</td></tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="empty">No runs recorded yet.</p>')
    out.append("</section>")
    out.append("<footer>segbridge · this page is self-contained: no network was used to "
               "draw it</footer></main></body></html>")
    return "\n".join(out)


def write_report(
    engine: Engine, output: Path, store_url: str | None = None, *,
    link_guest_orders: bool = False,
) -> ReportData:
    """Collect, render and write atomically (a half-written page never replaces a good one)."""
    data = collect(engine, store_url, link_guest_orders=link_guest_orders)
    page = render(data)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    return data


def cmd_report(ctx: Any, args: Any) -> int:
    """``segbridge report --output FILE``: reads the store only; no lock."""
    from bridge.store.engine import open_store_readonly

    config = ctx.config()
    engine = open_store_readonly(config.store.url)
    try:
        data = write_report(engine, args.output, config.store.url,
                            link_guest_orders=bool(config.sync.link_guest_orders))
    except OSError as exc:
        from bridge.errors import SegbridgeError

        raise SegbridgeError(
            f"{args.output}: cannot write the report: {exc.strerror or exc}"
        ) from None
    finally:
        engine.dispose()
    summary = {
        "output": str(Path(args.output).resolve()),
        "segments": len(data.segments),
        "evaluations_drawn": max((len(p) for p in data.sizes.values()), default=0),
        "runs": len(data.runs),
        "groups": len(data.groups),
        "lifts": len(data.lifts),
    }
    if ctx.json:
        ctx.emit_json(summary)
    elif not ctx.quiet:
        ctx.console().print(
            f"report written to {summary['output']} ({summary['segments']} segments, "
            f"{summary['runs']} recent runs)"
        )
    return 0
