"""The sandbox keeps the matches of a filter no index answers (carts: customer_id gt 0)
while no cart changes: every page it answers from them is the page it answers without
them, whatever changes in between (a slot set through the shop or by hand, a time moved,
a cart added or deleted)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sandbox.model import Cart, fmt_time
from bridge.sandbox.search import parse_criteria, run_search
from bridge.sandbox.shop import Shop

SHOP = Shop(customers=60, seed=4, orders_per_customer=0.5, active_carts=0.6)
SPECS = SHOP.specs()


def _criteria(filters: list[tuple[str, str, Any]], after: tuple[int, int] | None, asc: bool,
              size: int, page: int) -> Any:
    groups: list[dict[str, Any]] = [
        {"filters": [{"field": f, "condition_type": c, "value": str(v)}]} for f, c, v in filters]
    if after is not None:
        t, i = after
        groups.append({"filters": [{"field": "updated_at", "condition_type": "gteq",
                                    "value": fmt_time(t)}]})
        groups.append({"filters": [
            {"field": "updated_at", "condition_type": "gt", "value": fmt_time(t)},
            {"field": "entity_id", "condition_type": "gt", "value": str(i)}]})
    direction = "ASC" if asc else "DESC"
    return parse_criteria({"searchCriteria": {
        "filter_groups": groups, "pageSize": str(size), "currentPage": str(page),
        "sortOrders": [{"field": "updated_at", "direction": direction},
                       {"field": "entity_id", "direction": direction}]}}, None)


def _both(c: Any) -> tuple[Any, Any]:
    """The page with the kept matches, and the same page computed afresh."""
    table = SHOP.carts
    kept = run_search(SPECS["carts"], table, c)
    tracked, table._record_changes = table._record_changes, None
    try:
        fresh = run_search(SPECS["carts"], table, c)
    finally:
        table._record_changes = tracked
    return ([q.id for q in kept.items], kept.total_count), (
        [q.id for q in fresh.items], fresh.total_count)


FILTERS = st.lists(st.sampled_from([
    ("customer_id", "gt", 0), ("is_active", "eq", 1), ("customer_id", "lt", 30),
    ("store_id", "neq", 2), ("items_count", "gt", 1)]), min_size=1, max_size=2, unique=True)
CHANGES = st.lists(st.tuples(
    st.sampled_from(["active", "customer", "time", "add", "delete", "lines", "none"]),
    st.integers(0, 10_000)), max_size=4)


@settings(max_examples=60, deadline=None)
@given(filters=FILTERS, asc=st.booleans(), size=st.integers(1, 25), page=st.integers(1, 4),
       cursor=st.none() | st.integers(0, 200), changes=CHANGES)
def test_pages_from_kept_matches_are_the_pages_computed_afresh(
        filters: list[tuple[str, str, Any]], asc: bool, size: int, page: int,
        cursor: int | None, changes: list[tuple[str, int]]) -> None:
    with SHOP.lock:
        ids = SHOP.carts.by_time["updated_at"]
        after = None
        if cursor is not None and ids:
            q = SHOP.carts.rows[ids[cursor % len(ids)]]
            after = (q.updated_at, q.id)
        c = _criteria(filters, after, asc, size, page)
        got, expected = _both(c)
        assert got == expected
        for kind, n in changes:
            carts = list(SHOP.carts.rows.values())
            q = carts[n % len(carts)]
            if kind == "active":
                q.is_active = not q.is_active  # by hand: no index, no shop method
            elif kind == "customer":
                q.customer_id = None if q.customer_id else 1 + n % 60
            elif kind == "time":
                SHOP.carts.set_time(q, "updated_at", q.updated_at + 1 + n % 5000)
            elif kind == "add":
                new = Cart(**{k: getattr(q, k) for k in Cart.__slots__})
                new.id = SHOP.carts.next_id()
                new.lines = list(q.lines)
                SHOP.carts.add(new)
            elif kind == "delete" and len(carts) > 5:
                SHOP.carts.delete(q.id)
            elif kind == "lines":
                q.lines.append(q.lines[0] if q.lines else (1, "S", "S", 1.0, 1.0, "simple"))
            got, expected = _both(c)
            assert got == expected, kind


def test_the_syncs_cart_filter_is_kept_and_a_change_is_seen() -> None:
    c = _criteria([("customer_id", "gt", 0)], None, True, 10, 1)
    with SHOP.lock:
        first = run_search(SPECS["carts"], SHOP.carts, c)
        assert SHOP.carts.scan_cache  # kept
        q = first.items[0]
        q.customer_id = None  # now a guest's: no longer a match
        again = run_search(SPECS["carts"], SHOP.carts, c)
        assert again.total_count == first.total_count - 1 and q not in again.items
        q.customer_id = 7
        assert run_search(SPECS["carts"], SHOP.carts, c).total_count == first.total_count


def test_a_filter_on_the_lines_of_a_cart_is_not_kept() -> None:
    """A cart's lines can change in place (unseen by Cart.changes): items_count is
    counted afresh every time."""
    c = _criteria([("items_count", "gt", 1)], None, True, 100, 1)
    with SHOP.lock:
        before = run_search(SPECS["carts"], SHOP.carts, c).total_count
        q = next(q for q in SHOP.carts.rows.values() if len(q.lines) == 1)
        q.lines.append(q.lines[0])
        try:
            assert run_search(SPECS["carts"], SHOP.carts, c).total_count == before + 1
        finally:
            q.lines.pop()
