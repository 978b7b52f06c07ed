"""searchCriteria as Magento 2.4 reads it: parsing, filtering, sorting, paging, fields=.

Filters inside a filter group are OR-ed, groups are AND-ed; ``condition_type`` defaults to
``eq``; strings compare case-insensitively (MySQL's ``*_ci`` collations); a sort order
without a direction sorts DESC (SortingProcessor); pages past the last answer empty
(2.4) or repeat the last page (2.3, ``repeat_last_page``). docs/magento.md S2–S4, S11.

Speed: range filters on an indexed time field (``updated_at``/``created_at``) or on the
id field are answered by bisecting sorted indexes, and the keyset pattern the sync uses
(``t >= u`` AND (``t > u`` OR ``id > i``)) becomes one bisect on the (t, id) index. When
the sort order is the index order, a page is a slice: no scan, no so
The criteria are parsed in criteria.py; ``fields=`` is fields.py.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# imported from here by module_routes.py and tests: the criteria lived here
from bridge.sandbox.criteria import DEFAULT_PAGE_SIZE as DEFAULT_PAGE_SIZE
from bridge.sandbox.criteria import Criteria, Filter, SortOrder
from bridge.sandbox.criteria import parse_criteria as parse_criteria
from bridge.sandbox.errors import ApiError
from bridge.sandbox.model import Table, parse_time

# field kinds
INT, NUM, STR, TIME, DATE = "int", "num", "str", "time", "date"


# ---------------------------------------------------------------------------------------
# entity specs


@dataclass
class FieldDef:
    getter: Callable[[Any], Any]
    kind: str = STR
    plain: bool = False  # the getter reads slots of the record only (no list inside it)


@dataclass
class EntitySpec:
    """What a collection can filter and sort on (column names, not JSON keys)."""

    name: str
    fields: dict[str, FieldDef]
    id_field: str
    time_index: dict[str, str] = field(default_factory=dict)  # filter field -> table attr
    merge_from_to: bool = True  # generic processor merges a from+to group into BETWEEN
    unknown_field_status: int = 500
    default_sort: list[SortOrder] = field(default_factory=list)


def _mysql_int(v: Any) -> float:
    """MySQL's string -> number cast: the leading numeric part, else 0."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    m = re.match(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", str(v))
    return float(m.group(0)) if m else 0.0


def _coerce(kind: str, v: Any) -> Any:
    if kind in (INT, NUM):
        return _mysql_int(v)
    if kind == TIME:
        return parse_time(v)
    if kind == DATE:
        t = parse_time(v)
        return None if t is None else t
    return str(v).casefold()


def _record_value(kind: str, v: Any) -> Any:
    if v is None:
        return None
    if kind in (INT, NUM):
        return float(v) if not isinstance(v, bool) else float(int(v))
    if kind == DATE:
        return parse_time(v)
    if kind == TIME:
        return v
    return str(v).casefold()


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.S)


def compile_filter(spec: EntitySpec, f: Filter) -> Callable[[Any], bool]:
    fd = spec.fields.get(f.field)
    if fd is None:
        if spec.unknown_field_status == 400:
            raise ApiError(400, 'Invalid attribute name: %1', [f.field])
        raise ApiError(500, "__masked__")
    get, kind = fd.getter, fd.kind
    cond = f.condition
    if cond == "fulltext" and spec.merge_from_to:
        cond, value = "like", f"%{f.value}%"
    else:
        value = f.value

    def rv(r: Any) -> Any:
        return _record_value(kind, get(r))

    if cond in ("null", "notnull"):
        want_null = cond == "null"
        return lambda r: (get(r) is None) == want_null
    if cond in ("seq", "sneq"):
        if value == "" or value is None:
            want_null = cond == "seq"
            return lambda r: (get(r) is None) == want_null
        cond = "eq" if cond == "seq" else "neq"
    if cond in ("in", "nin"):
        items = value if isinstance(value, list) else str(value).split(",")
        wanted = {_coerce(kind, x.strip() if isinstance(x, str) else x) for x in items}
        if cond == "in":
            return lambda r: (x := rv(r)) is not None and x in wanted
        return lambda r: (x := rv(r)) is not None and x not in wanted
    if cond in ("like", "nlike"):
        rx = _like_regex(str(value).casefold())
        if cond == "like":
            return lambda r: (x := get(r)) is not None and rx.match(str(x).casefold()) is not None
        return lambda r: (x := get(r)) is not None and rx.match(str(x).casefold()) is None
    if cond in ("finset", "nfinset"):
        needle = str(value).casefold()
        neg = cond == "nfinset"
        return lambda r: (x := get(r)) is not None and (
            (needle in str(x).casefold().split(",")) != neg)
    if cond == "regexp":
        rx2 = re.compile(str(value), re.I)
        return lambda r: (x := get(r)) is not None and rx2.search(str(x)) is not None
    ops = {"eq": "==", "neq": "!=", "gt": ">", "lt": "<", "gteq": ">=", "lteq": "<=",
           "from": ">=", "to": "<=", "moreq": ">="}
    op = ops.get(cond)
    if op is None:
        raise ApiError(400, 'Invalid condition type "%1"', [f.condition])
    target = _coerce(kind, value)
    if target is None:
        return lambda r: False
    if op == "==":
        return lambda r: (x := rv(r)) is not None and x == target
    if op == "!=":
        return lambda r: (x := rv(r)) is not None and x != target
    if op == ">":
        return lambda r: (x := rv(r)) is not None and x > target
    if op == "<":
        return lambda r: (x := rv(r)) is not None and x < target
    if op == ">=":
        return lambda r: (x := rv(r)) is not None and x >= target
    return lambda r: (x := rv(r)) is not None and x <= target


# ---------------------------------------------------------------------------------------
# planning: which index answers which groups


@dataclass
class _Range:
    lo: tuple[Any, int] | None = None  # inclusive key lower bound
    lo_strict: bool = False
    hi: tuple[Any, int] | None = None
    hi_strict: bool = False
    empty: bool = False

    def bound(self, op: str, v: Any) -> None:
        if op in ("gteq", "from", "moreq", "gt"):
            strict = op == "gt"
            if self.lo is None or v > self.lo[0] or (v == self.lo[0] and strict):
                self.lo, self.lo_strict = (v, 0), strict
        elif op in ("lteq", "to", "lt"):
            strict = op == "lt"
            if self.hi is None or v < self.hi[0] or (v == self.hi[0] and strict):
                self.hi, self.hi_strict = (v, 0), strict
        elif op == "eq":
            self.bound("gteq", v)
            self.bound("lteq", v)


_RANGE_OPS = {"eq", "gt", "gteq", "lt", "lteq", "from", "to", "moreq"}


def _range_value(kind: str, v: Any) -> Any:
    if kind == TIME:
        return parse_time(v)
    try:
        return int(_mysql_int(v)) if kind == INT else _mysql_int(v)
    except (TypeError, ValueError):
        return None


def _positions(idx: list[int], keyf: Callable[[int], Any], rng: _Range,
               id_index: bool) -> tuple[int, int]:
    """Slice [a, b) of a sorted index that satisfies the range."""
    if rng.empty:
        return 0, 0
    n = len(idx)
    if id_index:
        a = 0 if rng.lo is None else (
            bisect.bisect_right(idx, rng.lo[0]) if rng.lo_strict
            else bisect.bisect_left(idx, math.ceil(rng.lo[0])))
        if rng.lo is not None and rng.lo_strict and rng.lo[0] != int(rng.lo[0]):
            a = bisect.bisect_left(idx, math.ceil(rng.lo[0]))
        b = n if rng.hi is None else (
            bisect.bisect_left(idx, rng.hi[0]) if rng.hi_strict
            else bisect.bisect_right(idx, math.floor(rng.hi[0])))
        return a, max(a, b)
    INF = float("inf")
    if rng.lo is None:
        a = 0
    elif len(rng.lo) == 2 and rng.lo[1] != 0:  # keyset: strictly after (t, id)
        a = bisect.bisect_right(idx, rng.lo, key=keyf)
    elif rng.lo_strict:
        a = bisect.bisect_right(idx, (rng.lo[0], INF), key=keyf)
    else:
        a = bisect.bisect_left(idx, (rng.lo[0], -INF), key=keyf)
    if rng.hi is None:
        b = n
    elif len(rng.hi) == 2 and rng.hi[1] != 0:  # keyset: strictly before (t, id)
        b = bisect.bisect_right(idx, rng.hi, key=keyf)
    elif rng.hi_strict:
        b = bisect.bisect_left(idx, (rng.hi[0], -INF), key=keyf)
    else:
        b = bisect.bisect_right(idx, (rng.hi[0], INF), key=keyf)
    return a, max(a, b)


@dataclass
class Page:
    items: list[Any]
    total_count: int


def _offset(page: int, total: int, page_size: int, repeat_last_page: bool) -> int | None:
    """Where ``page`` starts; past the last page, Magento 2.3 answers the last page again
    (``repeat_last_page``) and 2.4 an empty one (None)."""
    last = max(1, math.ceil(total / page_size))
    if page > last:
        if not repeat_last_page:
            return None
        page = last
    return (page - 1) * page_size


def run_search(spec: EntitySpec, table: Table, c: Criteria, repeat_last_page: bool = False,
               scope: Callable[[Any], bool] | None = None) -> Page:
    """Apply criteria to a table: the page's records and the total match count."""
    id_field = spec.id_field
    # ---- pick out index-answerable groups
    ranges: dict[str, _Range] = {}
    residual: list[list[Filter]] = []
    id_sets: list[list[int]] = []  # "entity_id in (…)" groups: direct lookups
    for g in c.groups:
        if not g:
            continue
        fields = {f.field for f in g}
        single_field = len(fields) == 1
        fname = g[0].field
        if single_field and len(g) == 1 and fname == id_field and g[0].condition == "in":
            raw = g[0].value
            vals = raw if isinstance(raw, list) else str(raw).split(",")
            wanted = {int(_mysql_int(v)) for v in vals if str(v).strip() != ""}
            id_sets.append(sorted(i for i in wanted if i in table.rows))
            continue
        indexed = fname == id_field or fname in spec.time_index
        conds = [f.condition for f in g]
        if indexed and single_field and (len(g) == 1 or (
                spec.merge_from_to and len(g) == 2 and sorted(conds) == ["from", "to"])):
            if all(cd in _RANGE_OPS for cd in conds):
                kind = INT if fname == id_field else TIME
                rng = ranges.setdefault(fname, _Range())
                for f in g:
                    v = _range_value(kind, f.value)
                    if v is None:
                        rng.empty = True
                    else:
                        rng.bound(f.condition, v)
                continue
        residual.append(g)
    # ---- keyset bounds on the (t, id) index: after (u, i) is (t >= u) AND (t > u OR id > i);
    # its mirror, before (u, i), is (t <= u) AND (t < u OR id < i)
    for g in list(residual):
        if len(g) != 2:
            continue
        a, b = g
        if a.field == id_field:
            a, b = b, a
        if not (a.field in spec.time_index and b.field == id_field
                and a.condition == b.condition and a.condition in ("gt", "lt")):
            continue
        rng = ranges.get(a.field)
        u = parse_time(a.value)
        if rng is None or u is None:
            continue
        after = a.condition == "gt"
        edge, strict = (rng.lo, rng.lo_strict) if after else (rng.hi, rng.hi_strict)
        if edge is None or strict or edge[0] != u:
            continue
        key = (u, int(_mysql_int(b.value)) + (0.5 if after else -0.5))  # strictly beyond (u, i)
        if after:
            rng.lo = key
        else:
            rng.hi = key
        residual.remove(g)
    # ---- choose the driving index
    sorts = c.sorts or spec.default_sort or [SortOrder(id_field, "ASC")]
    candidates: list[tuple[str, int, int, list[int], Any]] = []
    id_rng = ranges.get(id_field, _Range())
    a0, b0 = _positions(table.ids, None, id_rng, True)  # type: ignore[arg-type]
    candidates.append((id_field, a0, b0, table.ids, None))
    for fname, attr in spec.time_index.items():
        idx = table.by_time.get(attr)
        if idx is None:
            continue
        rng = ranges.get(fname, _Range())
        a, b = _positions(idx, table.key(attr), rng, False)
        candidates.append((fname, a, b, idx, attr))
    if id_sets:
        common = set(id_sets[0]).intersection(*id_sets[1:]) if len(id_sets) > 1 else None
        ids = sorted(common) if common is not None else id_sets[0]
        candidates = [(id_field, 0, len(ids), ids, None)]
        if id_field in ranges:
            a_, b_ = _positions(ids, None, ranges[id_field], True)  # type: ignore[arg-type]
            candidates = [(id_field, a_, b_, ids, None)]
        ranges.pop(id_field, None)
    order_match = None
    if sorts:
        s0 = sorts[0]
        for cand in candidates:
            if cand[0] != s0.field:
                continue
            if cand[0] == id_field and len(sorts) == 1:
                order_match = cand
            elif cand[0] != id_field and (
                    len(sorts) == 1 or (len(sorts) == 2 and sorts[1].field == id_field
                                        and sorts[1].asc == s0.asc)):
                order_match = cand
    narrowest = min(candidates, key=lambda t: t[2] - t[1])
    drive = narrowest
    if order_match is not None:
        om_size = order_match[2] - order_match[1]
        if om_size <= 4 * (narrowest[2] - narrowest[1]) + 200:
            drive = order_match
    dname, da, db, didx, dattr = drive
    checks: list[Callable[[Any], bool]] = []
    for fname in ranges:
        if fname == dname:
            continue
        rng = ranges[fname]
        checks.append(_range_check(spec, fname, rng))
    preds = [[compile_filter(spec, f) for f in g] for g in residual]
    rows = table.rows

    def ok(r: Any) -> bool:
        for chk in checks:
            if not chk(r):
                return False
        for group in preds:
            for p in group:
                if p(r):
                    break
            else:
                return False
        return scope(r) if scope is not None else True

    page_size = c.page_size or max(1, len(table.rows))  # 0/None: limits off, every row
    page = max(1, c.current_page or 1)
    ordered = drive is order_match and order_match is not None
    desc = ordered and not sorts[0].asc
    plain = not checks and not preds and scope is None
    if ordered and plain:
        total = db - da
        off = _offset(page, total, page_size, repeat_last_page)
        if off is None:
            return Page([], total)
        if desc:
            hi = db - off
            lo = max(da, hi - page_size)
            ids = didx[lo:hi][::-1]
        else:
            ids = didx[da + off: min(db, da + off + page_size)]
        return Page([rows[i] for i in ids], total)
    kept = _kept_matches(spec, table, dattr, didx, residual, ok) if (
        ordered and preds and not checks and scope is None) else None
    if kept is not None:
        # the positions in the driving index of every record that passes the filters:
        # this range's are a slice of them
        a, b = bisect.bisect_left(kept, da), bisect.bisect_left(kept, db)
        total = b - a
        off = _offset(page, total, page_size, repeat_last_page)
        if off is None:
            return Page([], total)
        sel = kept[max(a, b - off - page_size):b - off][::-1] if desc else kept[
            a + off:min(b, a + off + page_size)]
        return Page([rows[didx[p]] for p in sel], total)
    if ordered:
        rng_ids: Iterable[int] = (reversed(didx[da:db]) if desc else didx[da:db])
        matched = [i for i in rng_ids if ok(rows[i])]
        recs = None
    else:
        recs = [rows[i] for i in didx[da:db]]
        recs = [r for r in recs if ok(r)] if not plain else recs
        _sort(spec, recs, sorts)
        matched = None
    total = len(matched) if matched is not None else len(recs)  # type: ignore[arg-type]
    off = _offset(page, total, page_size, repeat_last_page)
    if off is None:
        return Page([], total)
    if matched is not None:
        return Page([rows[i] for i in matched[off:off + page_size]], total)
    return Page(recs[off:off + page_size], total)  # type: ignore[index]


def _kept_matches(spec: EntitySpec, table: Table, attr: Any, idx: list[int],
                  residual: list[list[Filter]], ok: Callable[[Any], bool]) -> list[int] | None:
    """The positions in ``idx`` (a driving index of ``table``) of the records that pass
    the ``residual`` filters, kept on the table until it or any of its records changes
    (``Table.stamp``): a keyset scan asks the same filters of every page, each over the
    rest of the range. None: the table is not tracked, or a filter reads more than the
    records' slots (a list inside one can change in place, unseen)."""
    stamp = table.stamp()
    if stamp is None or not all(spec.fields[f.field].plain for g in residual for f in g):
        return None
    if idx is not table.ids and idx is not table.by_time.get(attr):
        return None  # a list made for this request (ids asked for by value)
    key = (attr, tuple(tuple((f.field, f.condition, repr(f.value)) for f in g)
                       for g in residual))
    kept = table.scan_cache.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    rows = table.rows
    positions = [p for p, i in enumerate(idx) if ok(rows[i])]
    cache = {k: v for k, v in table.scan_cache.items() if v[0] == stamp}
    table.scan_cache = cache if len(cache) < 8 else {}
    table.scan_cache[key] = (stamp, positions)
    return positions


def _range_check(spec: EntitySpec, fname: str, rng: _Range) -> Callable[[Any], bool]:
    get = spec.fields[fname].getter
    is_id = fname == spec.id_field
    if rng.empty:
        return lambda r: False
    lo, hi = rng.lo, rng.hi

    def chk(r: Any) -> bool:
        v = get(r)
        if v is None:
            return False
        key = (v, r.id if not is_id else 0)
        if lo is not None:
            if len(lo) == 2 and lo[1] != 0 and not is_id:
                if key <= (lo[0], lo[1]):
                    return False
            elif rng.lo_strict:
                if v <= lo[0]:
                    return False
            elif v < lo[0]:
                return False
        if hi is not None:
            if len(hi) == 2 and hi[1] != 0 and not is_id:
                if key >= (hi[0], hi[1]):
                    return False
            elif rng.hi_strict:
                if v >= hi[0]:
                    return False
            elif v > hi[0]:
                return False
        return True

    return chk


def _sort(spec: EntitySpec, recs: list[Any], sorts: list[SortOrder]) -> None:
    if not sorts:
        recs.sort(key=lambda r: r.id)
        return
    for s in reversed(sorts):
        fd = spec.fields.get(s.field)
        if fd is None:
            raise ApiError(500, "__masked__")
        get, kind = fd.getter, fd.kind

        def key(r: Any, get: Callable[[Any], Any] = get, kind: str = kind) -> tuple[int, Any]:
            v = _record_value(kind, get(r))
            return (0, 0) if v is None else (1, v)

        recs.sort(key=key, reverse=not s.asc)
