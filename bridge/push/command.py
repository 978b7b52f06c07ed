"""``segbridge plan``, ``push``, ``run`` and ``resync``; ``run_once`` for the daemon."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import EXIT_OK, EXIT_PARTIAL, SegbridgeError
from bridge.push.journal import open_batches
from bridge.push.remote import Remote
from bridge.push.service import (
    PushResult,
    build_plan,
    finish_run,
    live_groups,
    plan_to_json,
    push_once,
    start_run,
)
from bridge.shutdown import stop_requested
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.push")


def make_client(config: Any, *, read_only: bool = False) -> Any:
    from bridge.magento.client import MagentoClient

    return MagentoClient(config.magento, read_only=read_only)


def _segments(config: Any) -> list[Any]:
    from bridge.segments.loader import load_segments

    return load_segments(config.mappings.dir, config)


def _open(config: Any) -> Engine:
    from bridge.store.engine import open_store

    return open_store(config.store.url)


def _evaluate(
    engine: Engine, segments: list[Any], as_of: datetime, run_id: int | None, config: Any
) -> Any:
    from bridge.segments.evaluate import evaluate

    return evaluate(engine, segments, as_of, run_id=run_id, config=config)


def _sync(engine: Engine, client: Any, config: Any, *, full: bool, kind: str) -> Any:
    """The sync engineer's programmatic sync (every entity; ``full`` finds deletions).

    A stop (SIGTERM to the daemon) is looked at before each entity, so a long sync ends
    between entities, each one whole or untouched.
    """
    from bridge.sync.runner import run_sync

    return run_sync(config, engine, full=full, client=client, kind=kind,
                    should_stop=stop_requested)


# --- plan ---------------------------------------------------------------------------------


def cmd_plan(ctx: Any, args: argparse.Namespace) -> int:
    """Show the push plan; nothing is written to Magento (the client is read-only)."""
    config = ctx.config()
    segments = _segments(config)
    engine = _open(config)
    try:
        if getattr(args, "as_of", None) is not None:
            from bridge.lock import run_lock

            with run_lock(engine, wait=ctx.wait, holder="segbridge plan --as-of"):
                _evaluate(engine, segments, args.as_of, None, config)
        client = make_client(config, read_only=True)
        try:
            groups = live_groups(Remote(client))
        finally:
            client.close()
        plan = build_plan(engine, config, segments, groups)
        data = plan_to_json(engine, plan, groups)
        pending = len(open_batches(engine))
    finally:
        engine.dispose()
    if plan.problems:
        from bridge.errors import ConfigError

        raise ConfigError(plan.problems)
    if ctx.json:
        ctx.emit_json(data)
        return EXIT_OK
    _print_plan(ctx, data, plan.size, int(config.push.max_changes), pending)
    return EXIT_OK


def _print_plan(ctx: Any, data: dict[str, Any], size: int, limit: int, pending: int) -> None:
    from rich.table import Table

    con = ctx.console()
    if pending:
        con.print(f"{pending} unfinished push journal(s) will be finished first by `push`.")
    if data["new_groups"]:
        con.print("Customer groups to create: " + ", ".join(data["new_groups"]))
    moves: dict[tuple[str, str, str], int] = {}
    for g in data["groups"]:
        k = (str(g["from"]), str(g["to"]), g["segment"] or "(home)")
        moves[k] = moves.get(k, 0) + 1
    if moves:
        t = Table(title="Customer group changes")
        for col in ("from", "to", "segment", "customers"):
            t.add_column(col)
        for (a, b, seg), n in sorted(moves.items()):
            t.add_row(a, b, seg, str(n))
        con.print(t)
    sections = (
        ("CMS blocks", data["cms_blocks"], ("action", "identifier", "store", "segment")),
        ("Cart price rules", data["cart_rules"], ("action", "name", "segment", "group",
                                                  "coupon_code")),
    )
    for kind, rows, keys in sections:
        if rows:
            t = Table(title=kind)
            for col in keys:
                t.add_column(col)
            for r in rows:
                t.add_row(*[str(r.get(k, "")) for k in keys])
            con.print(t)
    if data["drift"]:
        con.print(f"Drift (moved by hand into a managed group, left alone): {len(data['drift'])}")
        for d in data["drift"][:20]:
            con.print(f"  customer {d['customer_id']}: in {d['group']}, segbridge would say "
                      f"{d['target']}")
    note = f" — more than push.max_changes = {limit}: push needs --force" if size > limit else ""
    con.print(f"{size} change(s) planned{note}.")


# --- push -----------------------------------------------------------------------------------


def _print_push(ctx: Any, result: PushResult) -> None:
    con = ctx.console()
    s = result.summary()
    if s["resumed_batches"]:
        con.print(f"Finished interrupted push journal(s): {s['resumed_batches']}")
    con.print(f"Planned {s['planned']} change(s); steps: {s['steps'] or 'none'}")
    if s["created"]:
        con.print(f"Created: {s['created']}")
    for r in s["refused"]:
        con.print(f"[red]refused[/red] {r['kind']} {r['key']}: {r['message']}")
    for o in s["overridden"]:
        con.print(f"overridden by the store: customer {o['customer_id']} kept group {o['group']}")
    if s["drift"]:
        con.print(f"Drift left alone: {len(s['drift'])} customer(s)")


def cmd_push(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.lock import run_lock

    config = ctx.config()
    segments = _segments(config)
    engine = _open(config)
    try:
        with run_lock(engine, wait=ctx.wait, holder="segbridge push"):
            result = _push_run(engine, config, segments, kind="push",
                               as_of=getattr(args, "as_of", None),
                               force=bool(getattr(args, "force", False)))
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(result.summary())
    else:
        _print_push(ctx, result)
    return result.exit_code


def _push_run(
    engine: Engine, config: Any, segments: list[Any], *, kind: str, as_of: datetime | None,
    force: bool,
) -> PushResult:
    run_id = start_run(engine, kind)
    client = make_client(config)
    try:
        if as_of is not None:
            _evaluate(engine, segments, as_of, run_id, config)
        result = push_once(engine, config, segments, client, force=force, run_id=run_id)
    except BaseException as exc:
        finish_run(engine, run_id, "failed", client=client, errors=1, message=str(exc)[:2000])
        raise
    finally:
        client.close()
    status = "stopped" if result.interrupted else "partial" if result.refused else "ok"
    finish_run(engine, run_id, status, counts=_push_counts(result), client=client,
               errors=len(result.refused))
    return result


def _push_counts(result: PushResult) -> dict[str, Any]:
    s = result.summary()
    return {
        "planned": s["planned"],
        "steps": s["steps"],
        "created": s["created"],
        "refused": len(s["refused"]),
        "overridden": len(s["overridden"]),
        "drift": len(s["drift"]),
    }


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
) -> RunResult:
    """Sync (``full``: everything, finding deletions) + evaluate + push, under one run lock.

    Raises ``LockHeld`` (exit 4) when another run holds the lock and ``wait`` is False,
    ``ConfigError`` (exit 2) for bad mappings before anything is done, ``PlanTooBig``
    when the push brake trips. ``lock=False`` is for a caller already holding it.
    """
    from contextlib import nullcontext

    from bridge.lock import run_lock

    kind = "resync" if full else "run"
    segments = _segments(config)
    own_engine = engine is None
    eng = engine if engine is not None else _open(config)
    own_client = client is None
    cli = client if client is not None else make_client(config)
    try:
        guard = run_lock(eng, wait=wait, holder=f"segbridge {kind}") if lock else nullcontext()
        with guard:
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
                if stop_requested():  # between evaluate and push
                    return _stopped(eng, result, cli, "after the evaluation")
                result.push = push_once(eng, config, segments, cli, force=force, run_id=run_id)
            except BaseException as exc:
                finish_run(eng, run_id, "failed", client=cli, errors=1, message=str(exc)[:2000])
                raise
            result.counts["push"] = _push_counts(result.push)
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


def _run_command(ctx: Any, *, full: bool, as_of: datetime | None, force: bool) -> int:
    config = ctx.config()
    result = run_once(config, full=full, as_of=as_of, force=force, wait=ctx.wait)
    if ctx.json:
        ctx.emit_json({"run_id": result.run_id, "kind": result.kind, "as_of": result.as_of,
                       **result.counts, "exit_code": result.exit_code})
    else:
        con = ctx.console()
        con.print(f"{result.kind} {result.run_id} as of {result.as_of:%Y-%m-%d %H:%M:%S} UTC")
        if result.push is not None:
            _print_push(ctx, result.push)
    return result.exit_code


def cmd_run(ctx: Any, args: argparse.Namespace) -> int:
    return _run_command(ctx, full=False, as_of=getattr(args, "as_of", None),
                        force=bool(getattr(args, "force", False)))


def cmd_resync(ctx: Any, args: argparse.Namespace) -> int:
    return _run_command(ctx, full=True, as_of=None, force=bool(getattr(args, "force", False)))
