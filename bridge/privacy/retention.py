"""Retention: joins and leaves older than ``privacy.history_days`` are purged by each run."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from bridge.store.segment_tables import SegmentHistory
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

HISTORY = SegmentHistory.__table__
CHUNK = 10_000


def purge_history(conn: Connection, days: int, now: datetime | None = None) -> int:
    """Delete history rows older than ``days`` (by their as-of time); returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    old = HISTORY.c.at < cutoff
    n = int(conn.execute(select(func.count()).select_from(HISTORY).where(old)).scalar_one())
    if n:
        conn.execute(delete(HISTORY).where(old))
    return n


def purge_for_run(engine: Engine, config: Any) -> int:
    """The run's purge, in its own transaction; logged when it removed anything."""
    days = int(getattr(getattr(config, "privacy", None), "history_days", 730))
    with engine.begin() as conn:
        n = purge_history(conn, days)
    if n:
        log.info("privacy: %d history row(s) older than %d days purged", n, days)
    return n
