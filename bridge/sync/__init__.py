"""The pull: Magento customers, orders and carts into the local store.

Public API (the push, daemon and demo call these)::

    from bridge.store.engine import open_store
    from bridge.sync import run_sync, SyncResult
    engine = open_store(config.store.url)
    with run_lock(engine, wait=False):
        result = run_sync(config, engine, full=False, entities=None, since=None)
    result.status      # "ok" | "partial" (records quarantined) | "failed"
    result.exit_code   # 0 | 3 | 1

Design
------
* **Windows.** Each entity (customers, orders, carts) has a watermark in
  ``sync_state``. An incremental run reads ``updated_at`` in
  [watermark − ``sync.overlap_s``, run start]; the first run (no watermark) and
  ``--full`` read every customer and the orders and active carts of the last
  ``sync.since``; ``--since`` overrides the start. Websites, store groups, store views
  and customer groups are small and always read whole (rows Magento no longer has are
  removed).
* **Paging** (``keyset.py``): sorted by ``(updated_at, entity_id)``. Page 1 gives the
  count; the remaining pages are cut into ``magento.concurrency`` blocks whose first
  pages are fetched by offset in parallel, and whose first keys become the block
  boundaries; each block then pages by keyset (after its last key, before the next
  block's first key) using Magento filter groups. Offsets only place the boundaries,
  so a record moving during the run cannot be skipped; with nothing moving the scan
  makes exactly ⌈count ÷ page size⌉ list requests. A record that changes during the
  run leaves the window and is read by the next run (its window starts before this
  run's start).
* **One writer** (``writer.py``): fetch threads turn pages into rows and hand them to
  a single writer thread through a bounded queue (memory stays flat: pages stream);
  the writer commits what is waiting in one transaction with each dialect's native
  upsert (``bridge.store.upsert``), so a record seen twice is stored once and a rerun
  after a kill rewrites rather than duplicates. Items and addresses are replaced as a
  set with their parent.
* **Watermark** = min(run start, newest ``updated_at`` Magento returned), written by
  the writer after every page of the entity is committed — never before. A scan that
  had to stop at a record keeps the watermark before it.
* **Full sync** also finds deletions: stored rows (customers; orders and active carts
  inside the window) that Magento did not return are checked by id (one request per
  page of ids, so a record that changed mid-run is not mistaken for deleted) and the
  rest are marked ``deleted``. Every customer is rewritten with its address book,
  which catches address-only changes (they do not move a customer's ``updated_at``).
* **Carts**: only quotes of registered customers (``customer_id > 0``). Incremental
  runs read every changed quote, active or not, so a converted quote turns inactive;
  full runs read active quotes. An inactive quote comes without items (docs/magento.md B8):
  its state is updated and the stored items are kept. With ``sync.cart_totals`` each
  changed active cart's totals are read (one request a cart).
* **Bad records** — no id, a field that does not parse, a value the database refuses,
  an order page that keeps failing with 500 (bisected down to one record, which is
  then fetched by id) — go to ``quarantine`` with the reason and the payload; the run
  goes on and ends ``partial`` (exit 3). ``segbridge status`` lists them; they are
  marked resolved once a later run stores the record.
* **Guest orders** (``linking.py``): ``orders.guest_customer_id`` names the registered
  customer of the same website with the same email; the segment compiler uses it only
  when ``sync.link_guest_orders`` is on.
* Every run is a row in ``runs`` (start, end, status, counts per entity, requests,
  retries, errors).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.sync.runner import SyncResult, run_sync

__all__ = ["SyncResult", "run_sync"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bridge.sync import runner

        return getattr(runner, name)
    raise AttributeError(name)
