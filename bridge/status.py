"""``segbridge status``: last runs, watermarks, quarantined records, lock holder, and
the push journal's unfinished entries (open batches and their pending/sent steps).

``collect_status(engine)`` gathers plain data (also the ``--json`` output); the
renderer prints one table per section. Other parts add sections by extending
``collect_status`` and ``SECTIONS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.output import cell, safe
from bridge.store.models import Quarantine, Run, SyncState
from bridge.store.push_tables import BATCH_OPEN, OPEN_STATES, PushBatch, PushStep

RUNS_SHOWN = 10
QUARANTINE_SHOWN = 50
JOURNAL_SHOWN = 20


def _runs(engine: Engine) -> list[dict[str, Any]]:
    """The last runs; one whose process is gone is closed as ``interrupted`` first (or,
    on a store this user cannot write, shown so)."""
    from bridge.runs import INTERRUPTED, RUNNING, close_dead_runs, interrupted_message, last_seen
    from bridge.runs import process_gone as gone
    from bridge.timeutil import utcnow

    try:
        close_dead_runs(engine)
    except SQLAlchemyError:  # a read-only store: shown below, recorded by the next run
        pass
    t = Run.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(RUNS_SHOWN)).mappings().all()
    out = [dict(r) for r in rows]
    now = utcnow()
    for r in out:
        if r["status"] == RUNNING and gone(r, now):
            note = interrupted_message(r)
            r.update(status=INTERRUPTED, ended_at=last_seen(r),
                     message=f"{r['message']}; {note}" if r["message"] else note)
    return out


def _watermarks(engine: Engine) -> list[dict[str, Any]]:
    t = SyncState.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.entity)).mappings().all()
    return [dict(r) for r in rows]


def _quarantine(engine: Engine) -> dict[str, Any]:
    t = Quarantine.__table__
    open_only = t.c.resolved_at.is_(None)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(t).where(open_only)).scalar_one()
        rows = conn.execute(
            select(t.c.id, t.c.run_id, t.c.entity, t.c.record_id, t.c.reason, t.c.created_at)
            .where(open_only)
            .order_by(t.c.id.desc())
            .limit(QUARANTINE_SHOWN)
        ).mappings().all()
    return {"open": int(total), "records": [dict(r) for r in rows]}


def _journal(engine: Engine) -> dict[str, Any]:
    """Open push batches, each with its unfinished steps counted by kind and state (the
    next ``push``/``run`` finishes them), and the first few of those steps."""
    b, st = PushBatch.__table__, PushStep.__table__
    unfinished = st.c.state.in_(OPEN_STATES)
    with engine.connect() as conn:
        batches = conn.execute(
            select(b.c.id, b.c.run_id, b.c.created_at, b.c.forced)
            .where(b.c.status == BATCH_OPEN).order_by(b.c.id)
        ).mappings().all()
        ids = [r["id"] for r in batches]
        counts = conn.execute(
            select(st.c.batch_id, st.c.kind, st.c.state, func.count())
            .where(st.c.batch_id.in_(ids), unfinished)
            .group_by(st.c.batch_id, st.c.kind, st.c.state)
        ).all() if ids else []
        steps = conn.execute(
            select(st.c.batch_id, st.c.seq, st.c.kind, st.c.key, st.c.state)
            .where(st.c.batch_id.in_(ids), unfinished)
            .order_by(st.c.batch_id, st.c.seq).limit(JOURNAL_SHOWN)
        ).mappings().all() if ids else []
    out: list[dict[str, Any]] = []
    for r in batches:
        by: dict[str, int] = {}
        for batch_id, kind, state, n in counts:
            if batch_id == r["id"]:
                by[f"{kind} {state}"] = int(n)
        out.append({**dict(r), "unfinished": sum(by.values()), "steps": by})
    return {
        "open_batches": out,
        "unfinished_steps": sum(x["unfinished"] for x in out),
        "first_steps": [dict(x) for x in steps],
    }


def _lock(engine: Engine) -> dict[str, Any] | None:
    try:
        from bridge.lock import lock_holder
    except ImportError:  # pragma: no cover
        return None
    try:
        return lock_holder(engine)
    except Exception:  # noqa: BLE001 - status must show what it can
        return None


def collect_status(engine: Engine) -> dict[str, Any]:
    return {
        "runs": _runs(engine),
        "watermarks": _watermarks(engine),
        "quarantine": _quarantine(engine),
        "lock": _lock(engine),
        "journal": _journal(engine),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return safe(value)


def _took(r: dict[str, Any]) -> str:
    """How long a run took (``running`` while it goes on)."""
    start, end = r.get("started_at"), r.get("ended_at")
    if end is None or start is None or not hasattr(end, "__sub__"):
        return "running" if r.get("status") == "running" else "-"
    seconds = max(int((end - start).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _print_runs(console: Any, data: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    if not data["runs"]:
        console.print("last runs: none yet")
        return
    table = Table(title="last runs", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("run", "kind", "started (UTC)", "took", "status", "requests", "errors"):
        table.add_column(col, justify="right" if col in ("run", "requests", "errors") else "left",
                         no_wrap=col == "started (UTC)")
    notes: list[str] = []
    for r in data["runs"]:
        requests = str(r["requests"] or 0)
        if r.get("retries"):
            requests += f" ({r['retries']} retried)"
        table.add_row(
            str(r["id"]), cell(r["kind"]), _fmt(r["started_at"]), _took(r), cell(r["status"]),
            requests, str(r["errors"] or 0),
        )
        if r.get("message"):
            notes.append(f"run {r['id']} ({safe(r['kind'])}, {safe(r['status'])}): "
                         f"{safe(r['message'])[:500]}")
        elif r.get("status") == "running" and r.get("pid") is not None:
            notes.append(f"run {r['id']} ({safe(r['kind'])}, running): pid {r['pid']} on host "
                         f"{safe(r.get('host'))}, last seen {_fmt(r.get('last_seen_at'))} UTC")
    console.print(table)
    for note in notes:
        console.print(note, markup=False, highlight=False)


def _print_watermarks(console: Any, data: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title="sync watermarks", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("entity", "watermark (UTC)", "last full sync", "last run"):
        table.add_column(col)
    for r in data["watermarks"]:
        table.add_row(cell(r["entity"]), _fmt(r["watermark"]), _fmt(r["last_full_at"]),
                      _fmt(r["last_run_id"]))
    console.print(table if data["watermarks"] else "never synced")


def _print_quarantine(console: Any, data: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    q = data["quarantine"]
    if not q["open"]:
        console.print("quarantine: empty")
        return
    table = Table(title=f"quarantine: {q['open']} open record(s)", title_justify="left",
                  box=box.SIMPLE_HEAD)
    for col in ("entity", "record", "run", "when (UTC)", "reason"):
        table.add_column(col, overflow="fold")
    for r in q["records"]:
        table.add_row(cell(r["entity"]), cell(r["record_id"]), _fmt(r["run_id"]),
                      _fmt(r["created_at"]), cell(r["reason"]))
    console.print(table)
    if q["open"] > len(q["records"]):
        console.print(f"… and {q['open'] - len(q['records'])} more")


def _print_lock(console: Any, data: dict[str, Any]) -> None:
    if data.get("lock"):
        from bridge.lock import describe_holder

        console.print(f"run lock: held by {safe(describe_holder(data['lock']))}", markup=False,
                      highlight=False)
    else:
        console.print("run lock: free")


def _print_journal(console: Any, data: dict[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    j = data["journal"]
    if not j["open_batches"]:
        console.print("push journal: nothing unfinished")
        return
    table = Table(title=f"push journal: {len(j['open_batches'])} unfinished batch(es), "
                  f"{j['unfinished_steps']} step(s) left — the next push or run finishes them",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("batch", "run", "planned (UTC)", "forced", "unfinished steps"):
        table.add_column(col, overflow="fold")
    for r in j["open_batches"]:
        steps = ", ".join(f"{k}: {n}" for k, n in sorted(r["steps"].items())) or "-"
        table.add_row(str(r["id"]), _fmt(r["run_id"]), _fmt(r["created_at"]),
                      "yes" if r["forced"] else "no", cell(steps))
    console.print(table)


SECTIONS: list[Callable[[Any, dict[str, Any]], None]] = [
    _print_runs, _print_watermarks, _print_quarantine, _print_lock, _print_journal,
]


def cmd_status(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.store.engine import open_store_readonly

    cfg = ctx.config()
    engine = open_store_readonly(cfg.store.url)
    try:
        data = collect_status(engine)
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(data)
        return 0
    console = ctx.console()
    for section in SECTIONS:
        section(console, data)
    return 0
