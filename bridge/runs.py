"""The runs table's bookkeeping that every stage shares: who is running a run.

A row in ``runs`` is written by the stage that starts it (sync, evaluate, push, run).
Each row carries the host and pid of its process and when that process was last seen
alive, so that a run whose process died (SIGKILL, OOM, a lost machine) can be told
apart from one still going and shown as ``interrupted``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from bridge.timeutil import utcnow


def new_run_values(kind: str, started_at: datetime | None = None) -> dict[str, Any]:
    """The columns of a new ``runs`` row for a run of ``kind`` started by this process."""
    now = utcnow()
    return {
        "kind": kind,
        "started_at": started_at or now,
        "status": "running",
        "host": socket.gethostname()[:255],
        "pid": os.getpid(),
        "last_seen_at": now,
    }
