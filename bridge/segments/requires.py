"""What a segment needs from the store before it can be evaluated: the data of
segbridge's storefront module (wishlist items, viewed products).

``evaluate`` refuses a wanted segment that reads ``product.in_wishlist`` or
``product.viewed`` (directly, or through a segment it references) while no full sync of
that entity is recorded in ``sync_state``: the module is missing, its part is off, or no
sync ran since the segment started reading it. Rows that cannot be kept current never
count. This module only reads the store; bringing the data is the sync's job
(``bridge.sync.module_data``), which may use the names below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, select

from bridge.segments.model import Segment, reachable, walk_rules
from bridge.store import models as m

log = logging.getLogger(__name__)

# the store entity (``sync_state.entity``) each module condition reads
ENTITY_OF = {"product.in_wishlist": "wishlist", "product.viewed": "product_views"}
MODULE_ENTITIES = tuple(dict.fromkeys(ENTITY_OF.values()))


def attributes_read(segments: Iterable[Segment]) -> set[str]:
    """The module conditions the active segments use."""
    return {r.attribute for s in segments if s.active for r in walk_rules(s.conditions)
            if r.attribute in ENTITY_OF}


def refused_segments(engine: Engine, segments: Sequence[Segment],
                     wanted: Sequence[Segment]) -> dict[str, str]:
    """Wanted segments reading a module condition whose data no sync has brought (the
    module is missing, its part is off, or no sync ran since the segment started reading
    it), directly or through a segment they reference: code → the line that says so."""
    with engine.connect() as conn:
        synced = set(conn.execute(select(m.SyncState.entity).where(
            m.SyncState.entity.in_(MODULE_ENTITIES),
            m.SyncState.last_full_at.is_not(None))).scalars())
    by_code = {s.code: s for s in segments}
    lacking: dict[str, str] = {}
    for seg in segments:
        for attr in sorted(attributes_read([seg])):
            if ENTITY_OF[attr] not in synced:
                lacking[seg.code] = attr
                break
    out: dict[str, str] = {}
    for seg in wanted:
        via, attr = _reads(seg, by_code, lacking)
        if attr is None:
            continue
        whose = "" if via == seg.code else f" through segment {via}"
        out[seg.code] = (
            f"segment {seg.code} reads {attr}{whose}, whose data no sync has brought from "
            "segbridge's storefront module (no module, its part off, or no sync since the "
            "segment started reading it): run `segbridge sync` with the module installed "
            "(docs/storefront.md); not evaluated")
    for line in out.values():
        log.warning("%s", line)
    return out


def _reads(seg: Segment, by_code: dict[str, Segment], lacking: dict[str, str]
           ) -> tuple[str, str | None]:
    """(the segment whose condition lacks data, that condition), following references;
    (seg.code, None) when nothing it reads lacks data."""
    for code in reachable([seg.code], by_code):
        if code in lacking:
            return code, lacking[code]
    return seg.code, None
