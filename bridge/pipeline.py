"""One run of the bridge: sync, then evaluate, then push, recorded as one run.

This module sits above the three stages (``bridge.sync``, ``bridge.segments``,
``bridge.push``), which know nothing of each other; it is the one place that chains them.
``run_once`` is what ``segbridge run`` and ``segbridge resync`` (``cmd_run``,
``cmd_resync``) and the daemon's jobs (``bridge.scheduler``) call: the shop check before
anything is written, one run lock, a stop request looked at between the stages (and the
push's own, after the write in flight), ``--adopt`` handed to the push, and the run's row
in ``runs`` with each stage's counts. ``plan --as-of`` and ``push --as-of`` evaluate
before they plan, so ``cmd_plan`` and ``cmd_push`` are registered here too: they hand
the evaluation to ``bridge.push.command``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import EXIT_OK, EXIT_PARTIAL, SegbridgeError
from bridge.push.command import (
    make_client,
    mapped_segments,
    open_writable,
    plan_command,
    preflight,
    push_checked,
    push_command,
    push_counts,
    push_lines,
)
from bridge.push.service import PushResult, finish_run, start_run
from bridge.shutdown import stop_requested
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.push")  # the name the run's lines have always had


def _evaluate(
    engine: Engine, segments: list[Any], as_of: datetime, run_id: int | None, config: Any
) -> Any:
    from bridge.segments.evaluate import evaluate

    return evaluate(engine, segments, as_of, run_id=run_id, config=config)


def dry_memberships(
    engine: Engine, segments: list[Any], as_of: datetime, config: Any
) -> dict[str, set[int]]:
    """Who would be in each active segment ``as_of``, computed in temporary tables and
    recorded nowhere (no memberships, history, evaluation or run row)."""
    from bridge.segments.evaluate import compute_memberships

    with engine.connect() as conn:
        try:
            return compute_memberships(conn, segments, as_of, config)
        finally:
            if conn.in_transaction():
                conn.rollback()


def _sync(engine: Engine, client: Any, config: Any, *, full: bool, kind: str) -> Any:
    """The sync engineer's programmatic sync (every entity; ``full`` finds deletions).

    A stop (SIGTERM to the daemon) is looked at before each entity, so a long sync ends
    between entities, each one whole or untouched.
    """
    from bridge.sync.runner import run_sync

    return run_sync(config, engine, full=full, client=client, kind=kind,
                    should_stop=stop_requested)


# --- plan / push with --as-of ---------------------------------------------------------------


def cmd_plan(ctx: Any, args: argparse.Namespace) -> int:
    """``segbridge plan``; ``--as-of`` evaluates in temporary tables, recording nothing."""
    return plan_command(ctx, args, dry_memberships=dry_memberships)


def cmd_push(ctx: Any, args: argparse.Namespace) -> int:
    """``segbridge push``; ``--as-of`` evaluates first, in the push's run."""
    return push_command(ctx, args, evaluate=_evaluate)


# --- run / resync -----------------------------------------------------------------------------


@dataclass
class RunResult:
    """What one ``run_once`` did: the daemon logs it, the CLI prints it."""

    run_id: int
    kind: str
    as_of: datetime
    sync: Any = None
    evaluation: Any = None
    push: PushResult | None = None
    exit_code: int = EXIT_OK
    counts: dict[str, Any] = field(default_factory=dict)
    # ok | partial | stopped (a stop request ended it early; the journal keeps the rest)
    status: str = "ok"


def run_once(
    config: Any,
    *,
    full: bool = False,
    as_of: datetime | None = None,
    force: bool = False,
    wait: bool = False,
    client: Any = None,
    engine: Engine | None = None,
    lock: bool = True,
    adopt: bool = False,
) -> RunResult:
    """Sync (``full``: everything, finding deletions) + evaluate + push, under one run lock.

    Raises ``LockHeld`` (exit 4) when another run holds the lock and ``wait`` is False,
    ``ConfigError`` (exit 2) for bad mappings before anything is done, ``PlanTooBig``
    when the push brake trips, ``WrongShop`` (exit 2) when the store belongs to another
    shop. ``lock=False`` is for a caller already holding it. ``adopt`` (``--adopt``):
    customers found inside managed groups are taken as segbridge's own for this push.
    """
    from contextlib import nullcontext

    from bridge.lock import run_lock

    kind = "resync" if full else "run"
    segments = mapped_segments(config)
    own_engine = engine is None
    eng = engine if engine is not None else open_writable(config)
    own_client = client is None
    cli = client if client is not None else make_client(config)
    try:
        guard = run_lock(eng, wait=wait, holder=f"segbridge {kind}") if lock else nullcontext()
        with guard:
            preflight(eng, cli, config, segments)  # exit 2 before the sync writes anything
            sync = _sync(eng, cli, config, full=full, kind=kind)
            run_id = sync.run_id if sync.run_id is not None else start_run(eng, kind)
            result = RunResult(run_id=run_id, kind=kind, as_of=as_of or utcnow(), sync=sync)
            result.counts = {"sync": _plain(sync.to_json())}
            if stop_requested():  # between sync and evaluate: nothing half-done to finish
                return _stopped(eng, result, cli, "after the sync")
            if sync.status == "failed":
                raise SegbridgeError(
                    f"{kind}: the sync failed ({'; '.join(sync.errors) or 'see status'}): "
                    "nothing evaluated or pushed"
                )
            try:
                when = as_of or utcnow()
                result.as_of = when
                result.evaluation = _evaluate(eng, segments, when, run_id, config)
                result.counts["evaluate"] = _plain(result.evaluation)
                from bridge.privacy.retention import purge_for_run

                purge_for_run(eng, config)  # history past privacy.history_days (docs/privacy.md)
                if stop_requested():  # between evaluate and push
                    return _stopped(eng, result, cli, "after the evaluation")
                result.push = push_checked(eng, config, segments, cli, force=force, run_id=run_id,
                                    adopt=adopt)
            except BaseException as exc:
                finish_run(eng, run_id, "failed", client=cli, errors=1, message=str(exc)[:2000])
                raise
            result.counts["push"] = push_counts(result.push)
            if result.push.interrupted:
                return _stopped(eng, result, cli, "during the push (the journal keeps the rest)")
            partial = bool(result.push.refused) or _sync_partial(result.sync)
            result.exit_code = EXIT_PARTIAL if partial else EXIT_OK
            result.status = "partial" if partial else "ok"
            finish_run(eng, run_id, result.status, counts=result.counts,
                       client=cli, errors=len(result.push.refused) + sync.quarantined)
            return result
    finally:
        if own_client:
            cli.close()
        if own_engine:
            eng.dispose()


def _stopped(engine: Engine, result: RunResult, client: Any, where: str) -> RunResult:
    """Record a run that a stop request ended early as ``stopped``, not ``ok``.

    Nothing is half-written: the sync stops between entities, the push after the write in
    flight, and the next run (or push) finishes the journal.
    """
    result.status = "stopped"
    refused = len(result.push.refused) if result.push is not None else 0
    result.exit_code = EXIT_PARTIAL if refused else EXIT_OK
    errors = list(getattr(result.sync, "errors", None) or [])
    in_sync = [e for e in errors if "asked to stop" in e]  # the sync's own "stopped before …"
    message = f"sync {in_sync[0]}" if in_sync else f"stopped {where}: asked to stop"
    others = [e for e in errors if e not in in_sync]
    if others:
        message += "; sync: " + "; ".join(others)
    log.info("%s %s %s", result.kind, result.run_id, message)
    finish_run(engine, result.run_id, "stopped", counts=result.counts, client=client,
               errors=refused + int(getattr(result.sync, "quarantined", 0) or 0),
               message=message[:2000])
    return result


def _sync_partial(sync: Any) -> bool:
    code = getattr(sync, "exit_code", None)
    if code is not None:
        return int(code) == EXIT_PARTIAL
    return bool(getattr(sync, "quarantined", 0))


def _plain(value: Any) -> Any:
    """Something JSON can hold, from whatever a stage returned."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    for attr in ("summary", "as_dict", "to_dict"):
        fn = getattr(value, attr, None)
        if callable(fn):
            return _plain(fn())
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        try:
            return _plain(asdict(value))
        except TypeError:
            pass
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def sync_line(sync: Any) -> str:
    """``Sync: 1,204 records stored (customers 210, orders 980, …), 3 deleted, 0 quarantined;
    42 requests.``"""
    counts = dict(getattr(sync, "counts", None) or {})
    stored = sum(int(c.stored) for c in counts.values())
    each = ", ".join(f"{name} {int(c.stored):,}" for name, c in counts.items())
    deleted = sum(int(c.deleted) for c in counts.values())
    line = f"Sync: {stored:,} record(s) stored" + (f" ({each})" if each else "")
    if deleted:
        line += f", {deleted:,} deleted"
    quarantined = int(getattr(sync, "quarantined", 0) or 0)
    if quarantined:
        line += f", {quarantined:,} quarantined (see `segbridge status`)"
    return line + f"; {int(getattr(sync, 'requests', 0) or 0):,} request(s)."


def evaluate_line(evaluation: Any) -> str:
    """``Evaluate: 11 segment(s), 433 memberships, +5 joined, -2 left (vip +3 -1, …).``"""
    rows = dict(evaluation or {})
    if not rows:
        return "Evaluate: no active segment."
    members = sum(int(r.members) for r in rows.values())
    joined = sum(int(r.joined) for r in rows.values())
    left = sum(int(r.left) for r in rows.values())
    line = (f"Evaluate: {len(rows)} segment(s), {members:,} membership(s), "
            f"+{joined:,} joined, -{left:,} left")
    changed = [f"{code} +{int(r.joined):,} -{int(r.left):,}"
               for code, r in sorted(rows.items()) if r.joined or r.left]
    if changed:
        line += " (" + ", ".join(changed[:8]) + (", …" if len(changed) > 8 else "") + ")"
    return line + "."


def run_lines(result: RunResult) -> list[str]:
    """One short summary each of the sync, the evaluation and the push of a run."""
    lines = [f"{result.kind.capitalize()} {result.run_id} as of "
             f"{result.as_of:%Y-%m-%d %H:%M:%S} UTC: {result.status}."]
    if result.sync is not None:
        lines.append(sync_line(result.sync))
        lines += [f"  sync: {e}" for e in list(getattr(result.sync, "errors", None) or [])]
    if result.evaluation is not None:
        lines.append(evaluate_line(result.evaluation))
    if result.push is not None:
        lines += push_lines(result.push)
    return lines


def _run_command(
    ctx: Any, *, full: bool, as_of: datetime | None, force: bool, adopt: bool
) -> int:
    config = ctx.config()
    result = run_once(config, full=full, as_of=as_of, force=force, wait=ctx.wait, adopt=adopt)
    if ctx.json:
        ctx.emit_json({"run_id": result.run_id, "kind": result.kind, "as_of": result.as_of,
                       **result.counts, "exit_code": result.exit_code})
    else:
        con = ctx.console()
        for line in run_lines(result):
            con.print(line, markup=False, highlight=False, soft_wrap=True)
    return result.exit_code


def cmd_run(ctx: Any, args: argparse.Namespace) -> int:
    return _run_command(ctx, full=False, as_of=getattr(args, "as_of", None),
                        force=bool(getattr(args, "force", False)),
                        adopt=bool(getattr(args, "adopt", False)))


def cmd_resync(ctx: Any, args: argparse.Namespace) -> int:
    return _run_command(ctx, full=True, as_of=None, force=bool(getattr(args, "force", False)),
                        adopt=bool(getattr(args, "adopt", False)))
