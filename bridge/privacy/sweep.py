"""The id sweep: which customers the store holds that Magento no longer has.

An incremental sync reads what changed; a customer deleted in Magento does not change,
it disappears. The sweep finds them with ids and counts only, never a customer record:

* the store's customer ids (plus those quarantined: Magento has them, the store does not)
  are cut into ranges of id; for a range, Magento's ``total_count`` of customers with an
  id inside it (one request of one item, ``fields=items[id],total_count``) is compared
  with the store's count. Equal: nobody in it was deleted. Not equal: the range is cut
  in two at the store's median id, and Magento's count of the lower half asked (the upper
  half's is the difference);
* a range of at most one page of stored ids is listed (ids only) and compared id by id.

So a sweep of a shop where nobody was deleted costs one request, and each deleted customer
about log2(customers ÷ page size) + 1 more (measured in bench/sweep_bench.py). Customers
created after the sync (their ids are above the store's highest) are outside the ranges.
A customer Magento still has that the store keeps out (``segbridge forget``) makes a range
look one short of a deletion: a deletion in the same ranges is then found by a later sweep
once the two no longer balance, or by the next full sync, which lists every customer.

A full sync does not need the sweep: it reads every customer, and what it did not see is
checked by id and erased (bridge.sync.runner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from bridge.magento.search import MAX_PAGE_SIZE, SearchCriteria
from bridge.store import models as m
from bridge.store.privacy_tables import PrivacySweep

log = logging.getLogger(__name__)

SWEEPS = PrivacySweep.__table__


@dataclass
class SweepResult:
    seen: int = 0  # stored ids Magento confirmed, by count or by listing
    gone: list[int] | None = None
    requests: int = 0


def last_sweep(conn: Connection) -> datetime | None:
    return conn.execute(
        select(func.max(SWEEPS.c.started_at)).where(SWEEPS.c.ended_at.is_not(None))
    ).scalar()


def sweep_due(conn: Connection, hours: int, now: datetime) -> bool:
    last = last_sweep(conn)
    return last is None or now - last >= timedelta(hours=hours) - timedelta(minutes=1)


def start_sweep(conn: Connection, run_id: int | None, now: datetime, full: bool) -> int:
    res = conn.execute(insert(SWEEPS).values(run_id=run_id, started_at=now, full=full,
                                             seen=0, erased=0, requests=0))
    return int(res.inserted_primary_key[0])


def finish_sweep(conn: Connection, sweep_id: int, now: datetime, seen: int, erased: int,
                 requests: int) -> None:
    conn.execute(update(SWEEPS).where(SWEEPS.c.id == sweep_id).values(
        ended_at=now, seen=seen, erased=erased, requests=requests))


def stored_ids(conn: Connection) -> list[int]:
    """The customer ids Magento should have: the store's and those quarantined."""
    c = m.Customer.__table__
    ids = set(conn.execute(select(c.c.id)).scalars())
    q = m.Quarantine.__table__
    for rid in conn.execute(select(q.c.record_id).where(
            q.c.entity == "customers", q.c.resolved_at.is_(None))).scalars():
        if rid and rid.isdigit():
            ids.add(int(rid))
    return sorted(ids)


class MagentoIds:
    """Magento's side of the sweep: counts and lists of customer ids in a range."""

    def __init__(self, fetch: Callable[[SearchCriteria, int], Any], page_size: int) -> None:
        self.fetch = fetch  # (criteria, page size) -> Page
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.requests = 0

    @staticmethod
    def _range(lo: int, hi: int) -> SearchCriteria:
        return (SearchCriteria().where("entity_id", "gteq", lo).where("entity_id", "lteq", hi)
                .fields("id"))

    def count(self, lo: int, hi: int) -> int:
        self.requests += 1
        return int(self.fetch(self._range(lo, hi), 1).total_count)

    def ids(self, lo: int, hi: int) -> set[int]:
        out: set[int] = set()
        after = lo - 1
        while True:
            crit = (SearchCriteria().where("entity_id", "gt", after)
                    .where("entity_id", "lteq", hi).order_by("entity_id", "ASC").fields("id"))
            self.requests += 1
            page = self.fetch(crit, self.page_size)
            got = [int(i["id"]) for i in page.items
                   if isinstance(i, dict) and str(i.get("id", "")).isdigit()]
            out.update(got)
            if not got or page.total_count <= len(page.items):
                return out
            after = max(got)


def find_gone(stored: list[int], magento: MagentoIds) -> SweepResult:
    """The stored ids (sorted) Magento no longer has (see the module)."""
    result = SweepResult(gone=[])
    assert result.gone is not None
    if not stored:
        return result
    leaf = magento.page_size
    # (index of the first stored id, index after the last, Magento's count or None)
    todo: list[tuple[int, int, int | None]] = [(0, len(stored), None)]
    while todo:
        i, j, known = todo.pop()
        n = j - i
        if n <= 0:
            continue
        lo, hi = stored[i], stored[j - 1]
        if n <= leaf:
            have = magento.ids(lo, hi)
            gone = [x for x in stored[i:j] if x not in have]
            result.gone.extend(gone)
            result.seen += n - len(gone)
            continue
        count = known if known is not None else magento.count(lo, hi)
        if count == n:
            result.seen += n
            continue
        mid = i + n // 2
        # the halves: ids [lo, stored[mid-1]] and [stored[mid], hi]; Magento's ids between
        # them belong to neither store id, so the lower half is counted up to just below
        # stored[mid] and the upper half is the rest
        left = magento.count(lo, stored[mid] - 1)
        todo.append((mid, j, count - left))
        todo.append((i, mid, left))
    result.gone.sort()
    result.requests = magento.requests
    return result

