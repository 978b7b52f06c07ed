"""The runs table's bookkeeping that every stage shares: who is running a run.

A row in ``runs`` is written by the stage that starts it (sync, evaluate, push, run).
Each row carries the host and pid of its process and when that process was last seen
alive, so that a run whose process died (SIGKILL, OOM, a lost machine) can be told
apart from one still going and shown as ``interrupted``:

- the run lock's heartbeat keeps ``last_seen_at`` of this process's running rows fresh
  (``touch_own_runs``);
- the next command that takes the lock, and ``status``, close the rows whose process is
  gone (``close_dead_runs``): on this host, its pid no longer runs; on another host, it
  was not seen for longer than the lock's lease;
- a command stopped by SIGTERM closes its own rows on the way out
  (``interrupt_own_runs``).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from bridge.lock import DEFAULT_LEASE_S
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

# A run of another host not seen for longer than this is gone: the run lock's lease
# (bridge.lock.DEFAULT_LEASE_S), which the heartbeat renews every third of.
STALE_AFTER = timedelta(seconds=DEFAULT_LEASE_S)
RUNNING = "running"
INTERRUPTED = "interrupted"


def _table() -> Any:
    from bridge.store.models import Run

    return Run.__table__


def this_host() -> str:
    return socket.gethostname()[:255]


def new_run_values(kind: str, started_at: datetime | None = None) -> dict[str, Any]:
    """The columns of a new ``runs`` row for a run of ``kind`` started by this process."""
    now = utcnow()
    return {
        "kind": kind,
        "started_at": started_at or now,
        "status": RUNNING,
        "host": this_host(),
        "pid": os.getpid(),
        "last_seen_at": now,
    }


def touch_own_runs(engine: Engine, now: datetime | None = None) -> int:
    """Mark this process's running rows as seen now (the lock's heartbeat calls this)."""
    t = _table()
    with engine.begin() as conn:
        result = conn.execute(
            update(t)
            .where(t.c.status == RUNNING, t.c.host == this_host(), t.c.pid == os.getpid())
            .values(last_seen_at=now or utcnow())
        )
    return int(result.rowcount or 0)


def process_gone(row: Any, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
    """Whether the process of a running ``row`` (host, pid, last_seen_at, started_at) is
    gone: on this host, its pid no longer runs; elsewhere (or unknown: a row from before
    hosts were recorded), it was not seen for longer than ``stale_after``."""
    from bridge.lock import pid_alive

    host, pid = row["host"], row["pid"]
    if host == this_host() and pid is not None:
        return pid != os.getpid() and not pid_alive(int(pid))
    seen = row["last_seen_at"] or row["started_at"]
    return seen is None or now - seen > stale_after


def last_seen(row: Any) -> datetime | None:
    return row["last_seen_at"] or row["started_at"]


def interrupted_message(row: Any) -> str:
    """``its process (pid 4242 on host web1) is gone; last seen 2026-12-07 21:30:01 UTC``."""
    seen = last_seen(row)
    when = seen.strftime("%Y-%m-%d %H:%M:%S UTC") if seen else "never"
    who = (f"pid {row['pid']} on host {row['host']}" if row["pid"] is not None
           else "an older segbridge")
    return f"its process ({who}) is gone; last seen {when}"


def dead_runs(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """The rows still marked running whose process is gone."""
    t = _table()
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.id, t.c.kind, t.c.host, t.c.pid, t.c.started_at, t.c.last_seen_at,
                   t.c.message)
            .where(t.c.status == RUNNING)
        ).mappings().all()
    return [dict(r) for r in rows if process_gone(r, now)]


def close_dead_runs(engine: Engine, now: datetime | None = None) -> list[int]:
    """Mark every running row whose process is gone as ``interrupted``, ended when it was
    last seen; returns their ids. Each row is changed only if it is still running."""
    t = _table()
    closed: list[int] = []
    for row in dead_runs(engine, now):
        note = interrupted_message(row)
        message = f"{row['message']}; {note}" if row["message"] else note
        with engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(t.c.id == row["id"], t.c.status == RUNNING)
                .values(status=INTERRUPTED, ended_at=last_seen(row), message=message[:2000])
            )
        if result.rowcount:
            closed.append(int(row["id"]))
            log.info("%s run %s marked interrupted: %s", row["kind"], row["id"], note)
    return closed


def interrupt_own_runs(engine: Engine, signalled_at: datetime, reason: str) -> list[int]:
    """Close this process's runs that a signal ended: those still running, and those its
    stages' own handlers just recorded as failed on the way out (ended after the
    signal came), become ``interrupted`` with ``reason``."""
    t = _table()
    now = utcnow()
    mine = and_(t.c.host == this_host(), t.c.pid == os.getpid())
    ended_by_it = or_(
        t.c.status == RUNNING,
        and_(t.c.status == "failed", t.c.ended_at >= signalled_at - timedelta(seconds=1)),
    )
    with engine.begin() as conn:
        ids = [int(i) for i in conn.execute(select(t.c.id).where(mine, ended_by_it)).scalars()]
        if ids:
            conn.execute(
                update(t).where(t.c.id.in_(ids)).values(
                    status=INTERRUPTED, ended_at=now, last_seen_at=now, message=reason[:2000]
                )
            )
    return ids
