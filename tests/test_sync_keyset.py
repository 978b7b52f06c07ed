"""The parallel keyset scan against an in-memory list route that honours searchCriteria.

These are narrow tests of the paging algorithm (request counts, records moving while
pages are read, bisection); the end-to-end sync tests use the HTTP sandbox.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bridge.magento.errors import InvalidRequestError, NotFoundError, ServerError
from bridge.magento.search import Filter, Page, SearchCriteria
from bridge.sync.keyset import Stream, WindowScan
from bridge.timeutil import format_magento_time

STREAM = Stream("orders", id_key="entity_id")
T0 = datetime(2026, 1, 1)


def _match(f: Filter, rec: dict[str, Any]) -> bool:
    col = "entity_id" if f.field == "entity_id" else f.field
    have = rec.get(col)
    want = f.value
    if isinstance(want, datetime):
        want = format_magento_time(want)
    if f.condition_type in ("in", "nin"):
        values = want if isinstance(want, list | tuple) else [want]
        return (have in values) == (f.condition_type == "in")
    if have is None:
        return False
    if isinstance(have, int):
        want = int(want)
    return {
        "eq": have == want, "gt": have > want, "gteq": have >= want,
        "lt": have < want, "lteq": have <= want,
    }[f.condition_type]


class FakeRoute:
    """A list route over ``records``; ``before_request(n)`` may change them."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {r["entity_id"]: r for r in records}
        self.requests = 0
        self.lock = threading.Lock()
        self.before_request: Callable[[int], None] = lambda n: None
        self.fail: Callable[[list[dict[str, Any]], SearchCriteria], Any] = lambda items, c: False

    def fetch(self, crit: SearchCriteria, size: int, number: int) -> Page:
        with self.lock:
            self.requests += 1
            self.before_request(self.requests)
            rows = [
                r for r in self.records.values()
                if all(any(_match(f, r) for f in group) for group in crit.filter_groups)
            ]
            rows.sort(key=lambda r: (r["updated_at"], r["entity_id"]))
            items = [dict(r) for r in rows[(number - 1) * size : number * size]]
            failure = self.fail(items, crit)
            if isinstance(failure, Exception):
                raise failure
            if failure:
                raise ServerError("Internal Error. Details are available in Magento log file.",
                                  status=500)
            if crit.item_fields is not None:
                items = [{k: i[k] for k in crit.item_fields if k in i} for i in items]
            return Page(number, size, len(rows), items, "entity_id")

    def get(self, ident: int) -> dict[str, Any]:
        if ident not in self.records:
            raise NotFoundError("no such entity", status=404)
        return dict(self.records[ident])

    def touch(self, ident: int, when: datetime) -> None:
        self.records[ident]["updated_at"] = format_magento_time(when)
        self.records[ident]["version"] = self.records[ident].get("version", 0) + 1


def _records(n: int, seed: int = 1, spread_s: int = 86_400) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        # many equal timestamps: the id tiebreaker matters
        when = T0 + timedelta(seconds=rnd.randrange(spread_s) // 60 * 60)
        out.append({"entity_id": i, "updated_at": format_magento_time(when), "version": 0})
    return out


def _scan(route: FakeRoute, *, page_size: int = 10, workers: int = 4,
          lo: datetime | None = None, hi: datetime | None = None,
          sink: dict[int, dict[str, Any]] | None = None,
          bad: list[tuple[str | None, str]] | None = None) -> WindowScan:
    got: dict[int, dict[str, Any]] = {} if sink is None else sink
    lock = threading.Lock()

    def on_items(items: list[dict[str, Any]]) -> None:
        with lock:
            for i in items:
                got[i["entity_id"]] = i

    def on_bad(rid: str | None, reason: str, payload: dict[str, Any] | None) -> None:
        if bad is not None:
            bad.append((rid, reason))

    scan = WindowScan(STREAM, route.fetch, route.get, SearchCriteria(), lo=lo, hi=hi,
                      page_size=page_size, workers=workers, on_items=on_items, on_bad=on_bad)
    scan.run()
    scan.got = got  # type: ignore[attr-defined]
    return scan


@pytest.mark.parametrize("n,page_size,workers", [
    (0, 10, 4), (1, 10, 4), (10, 10, 4), (11, 10, 4), (95, 10, 4), (100, 10, 4),
    (1000, 10, 4), (1234, 7, 3), (40, 10, 1), (333, 100, 8),
])
def test_static_scan_reads_everything_with_exactly_one_request_per_page(
    n: int, page_size: int, workers: int
) -> None:
    route = FakeRoute(_records(n))
    scan = _scan(route, page_size=page_size, workers=workers)
    assert set(scan.got) == set(range(1, n + 1))  # type: ignore[attr-defined]
    assert route.requests == max(1, math.ceil(n / page_size))
    assert scan.result.total == n
    assert scan.result.stopped_at is None


def test_window_bounds_are_inclusive_and_respected() -> None:
    route = FakeRoute(_records(500))
    lo, hi = T0 + timedelta(hours=3), T0 + timedelta(hours=9)
    scan = _scan(route, lo=lo, hi=hi)
    want = {
        r["entity_id"] for r in route.records.values()
        if format_magento_time(lo) <= r["updated_at"] <= format_magento_time(hi)
    }
    assert set(scan.got) == want  # type: ignore[attr-defined]
    assert route.requests == math.ceil(len(want) / 10)


@pytest.mark.parametrize("seed", range(8))
def test_records_changing_during_the_scan_are_never_lost(seed: int) -> None:
    """Records move to the end of the window (or out of it) between requests; every
    record that did not change is read, and every changed one is either read or newer
    than the window's end (the next run takes it)."""
    n = 600
    route = FakeRoute(_records(n, seed))
    rnd = random.Random(seed)
    hi = T0 + timedelta(days=1)
    changed: set[int] = set()

    def mutate(request_no: int) -> None:
        for _ in range(rnd.randrange(0, 4)):
            ident = rnd.randrange(1, n + 1)
            if ident not in route.records:
                continue
            # half inside the window (a late commit before run start), half after it
            when = hi - timedelta(seconds=rnd.randrange(0, 60)) if rnd.random() < 0.5 else (
                hi + timedelta(seconds=rnd.randrange(1, 600)))
            route.touch(ident, when)
            changed.add(ident)
        if rnd.random() < 0.1:  # a deletion now and then
            victim = rnd.randrange(1, n + 1)
            if victim in route.records and victim not in changed:
                del route.records[victim]
                changed.add(victim)

    route.before_request = mutate
    scan = _scan(route, page_size=10, workers=4, hi=hi)
    got = scan.got  # type: ignore[attr-defined]
    for ident in range(1, n + 1):
        if ident not in changed:
            assert ident in got, f"unchanged record {ident} was skipped"
    next_lo = format_magento_time(hi - timedelta(seconds=300))  # the next run's window
    for ident in changed:
        rec = route.records.get(ident)
        if rec is not None:
            assert ident in got or rec["updated_at"] >= next_lo


def test_a_record_updated_between_two_pages_is_read_in_this_run_or_the_next() -> None:
    route = FakeRoute(_records(100))
    first_page_ids: list[int] = []
    hi = T0 + timedelta(days=1)

    def mutate(request_no: int) -> None:
        if request_no == 2:
            # the 5th record of the sorted window moves past the run start
            rows = sorted(route.records.values(), key=lambda r: (r["updated_at"], r["entity_id"]))
            first_page_ids.extend(r["entity_id"] for r in rows[:10])
            route.touch(rows[4]["entity_id"], hi + timedelta(seconds=5))

    route.before_request = mutate
    scan = _scan(route, page_size=10, workers=1, hi=hi)
    assert len(scan.got) == 100  # type: ignore[attr-defined]
    # The next window starts before this run's start, so it reads the moved record again.
    moved = [r for r in route.records.values() if r["version"] == 1]
    nxt = _scan(route, lo=hi - timedelta(seconds=300))
    assert {m["entity_id"] for m in moved} <= set(nxt.got)  # type: ignore[attr-defined]
    assert nxt.got[moved[0]["entity_id"]]["version"] == 1  # type: ignore[attr-defined]


def test_a_page_that_fails_with_500_is_bisected_to_the_one_bad_record() -> None:
    route = FakeRoute(_records(300, seed=3))
    bad_id = 142

    def fail(items: list[dict[str, Any]], crit: SearchCriteria) -> bool:
        # Magento's "Item with the same ID already exists": any full page holding 142
        return crit.item_fields is None and any(i["entity_id"] == bad_id for i in items)

    route.fail = fail
    bad: list[tuple[str | None, str]] = []
    scan = _scan(route, page_size=20, workers=4, bad=bad)
    # everything stored; the bad one came through GET /orders/{id}
    assert set(scan.got) == set(range(1, 301))  # type: ignore[attr-defined]
    assert bad == []
    assert scan.result.stopped_at is None


def test_a_record_that_fails_even_by_id_is_quarantined_and_the_scan_goes_on() -> None:
    route = FakeRoute(_records(120, seed=4))
    bad_id = 77
    route.fail = lambda items, crit: crit.item_fields is None and any(
        i["entity_id"] == bad_id for i in items)
    real_get = route.get

    def get(ident: int) -> dict[str, Any]:
        if ident == bad_id:
            raise ServerError("Internal Error", status=500)
        return real_get(ident)

    route.get = get  # type: ignore[method-assign]
    bad: list[tuple[str | None, str]] = []
    scan = _scan(route, page_size=10, workers=2, bad=bad)
    assert set(scan.got) == set(range(1, 121)) - {bad_id}  # type: ignore[attr-defined]
    assert [b[0] for b in bad] == [str(bad_id)]
    assert "get by id failed" in bad[0][1]


def test_when_the_bad_record_cannot_be_singled_out_the_scan_stops_there_and_says_so() -> None:
    route = FakeRoute(_records(50, seed=5))
    rows = sorted(route.records.values(), key=lambda r: (r["updated_at"], r["entity_id"]))
    bad_id = rows[25]["entity_id"]

    def fail(items: list[dict[str, Any]], crit: SearchCriteria) -> Any:
        if any(f.field == "entity_id" and f.condition_type == "lteq"
               for g in crit.filter_groups for f in g):
            return InvalidRequestError("range filters refused", status=400)
        return any(i["entity_id"] == bad_id for i in items)

    route.fail = fail
    scan = _scan(route, page_size=10, workers=1)
    got = scan.got  # type: ignore[attr-defined]
    assert {r["entity_id"] for r in rows[:25]} <= set(got)
    assert bad_id not in got
    assert scan.result.stopped_at is not None
    assert scan.result.stopped_at <= (rows[25]["updated_at"], bad_id)
    assert scan.result.errors


def test_a_broken_region_is_read_record_by_record_through_the_single_route() -> None:
    """Every list page touching the last records fails; each is singled out and fetched
    by id, and nothing is lost."""
    route = FakeRoute(_records(40, seed=6))
    rows = sorted(route.records.values(), key=lambda r: (r["updated_at"], r["entity_id"]))
    broken = {r["entity_id"] for r in rows[-5:]}
    route.fail = lambda items, crit: any(i["entity_id"] in broken for i in items)
    bad: list[tuple[str | None, str]] = []
    scan = _scan(route, page_size=10, workers=1, bad=bad)
    assert set(scan.got) == set(range(1, 41))  # type: ignore[attr-defined]
    assert bad == [] and scan.result.stopped_at is None
