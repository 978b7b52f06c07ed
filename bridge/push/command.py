"""``segbridge plan``, ``push``, ``run`` and ``resync``; ``run_once`` for the daemon."""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, SegbridgeError
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


def empty_mappings_line(config: Any) -> str:
    where = f"{config.path}: " if getattr(config, "path", None) else ""
    return (
        f"{where}mappings.dir: {config.mappings.dir}: no segment file (*.toml) in this folder; "
        "refused, since a wrong path would otherwise send every member home and switch off "
        "every block and rule segbridge made. To retire every segment, set active = false "
        "in each file"
    )


def _segments(config: Any) -> list[Any]:
    """The segment files; a folder without any is refused (exit 2), never taken as
    "no segments": that plan would send every member home."""
    from bridge.segments.loader import load_segments

    segments = load_segments(config.mappings.dir, config)
    if not segments:
        raise ConfigError([empty_mappings_line(config)])
    return segments


def distinct_causes(problems: list[str]) -> list[str]:
    """One line per distinct cause, with a count: ``customer N: <cause>`` lines (one per
    customer, thousands on a big shop) become ``<cause> (N customers, e.g. 12, 40, 51)``."""
    per: dict[str, list[str]] = {}
    out: list[str] = []
    for line in problems:
        m = re.match(r"customer (\d+): (.*)$", line, re.S)
        if m is None:
            if line not in out:
                out.append(line)
            continue
        per.setdefault(m.group(2), []).append(m.group(1))
    for cause, ids in per.items():
        if len(ids) == 1:
            out.append(f"customer {ids[0]}: {cause}")
        else:
            more = ", …" if len(ids) > 3 else ""
            out.append(f"{cause} ({len(ids)} customers, e.g. {', '.join(ids[:3])}{more})")
    return out


def _refuse_names(config: Any, groups: dict[str, tuple[int, str]]) -> None:
    """Before any plan: every ``push.movable_groups`` entry is a group of the shop, else
    one line naming the entry (a typo would leave every customer unmovable)."""
    from bridge.checks import movable_group_problems

    problems = movable_group_problems(config, groups)
    if problems:
        raise ConfigError(problems)


def _verify_shop(engine: Engine, client: Any, config: Any, *, record: bool = True) -> None:
    from bridge.identity import verify_shop

    verify_shop(engine, client, config, record=record)


def _preflight(engine: Engine, client: Any, config: Any, segments: list[Any]) -> None:
    """Before a push or a run does anything: the shop is this store's (else exit 2), the
    groups the config names exist there, and no segment ``[group]`` names a merchant's
    group without ``adopt = true`` (else exit 2, one line per name; the same lines as
    ``check --online``)."""
    from bridge.checks import merchant_group_problems, remember_named_groups

    _verify_shop(engine, client, config)
    groups = live_groups(Remote(client))
    _refuse_names(config, groups)
    problems = merchant_group_problems(engine, client, config, segments, groups)
    if problems:
        raise ConfigError(problems)
    remember_named_groups(engine, segments, groups)


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
    """Show the push plan; nothing is written, to Magento (the client is read-only) or to
    the store: ``--as-of`` evaluates without recording anything."""
    from bridge.store.engine import open_store_readonly

    config = ctx.config()
    segments = _segments(config)
    as_of = getattr(args, "as_of", None)
    # without --as-of only reads: a read-only store will do; --as-of needs temporary tables
    engine = open_store_readonly(config.store.url) if as_of is None else _open(config)
    try:
        client = make_client(config, read_only=True)
        try:
            _verify_shop(engine, client, config, record=False)
            remote = Remote(client)
            groups = live_groups(remote)
            _refuse_names(config, groups)
            memberships = None
            if as_of is not None:
                memberships = dry_memberships(engine, segments, as_of, config)
            # with the shop at hand, what a lost store would adopt shows as adopted, not
            # as creates (reads only: the client is read-only)
            plan = build_plan(
                engine, config, segments, groups, remote=remote, memberships=memberships
            )
        finally:
            client.close()
        data = plan_to_json(engine, plan, groups)
        pending = len(open_batches(engine))
    finally:
        engine.dispose()
    if plan.problems:
        raise ConfigError(distinct_causes(plan.problems))
    if ctx.json:
        ctx.emit_json(data)
        return EXIT_OK
    _print_plan(ctx, data, plan.size, int(config.push.max_changes), pending,
                plan.not_movable)
    return EXIT_OK


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


def _cell(value: Any, empty: str = "-") -> str:
    """A table cell for people: no ``None``."""
    return empty if value is None or value == "" else str(value)


def _counted(counts: dict[str, int], names: dict[str, str]) -> str:
    """``2 cart rules, 1 coupon`` from ``{"cart_rule": 2, "coupon": 1}``."""
    parts = []
    for key, n in sorted(counts.items()):
        if n:
            word = names.get(key, key.replace("_", " "))
            parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    return ", ".join(parts)


# A step's state as a count reads ("2 refused", not "2 refuseds").
STEP_STATES = {"refused": "refused", "stale": "stale", "skipped": "skipped",
               "overridden": "overridden by the store"}

SHOWN = 20  # lines of one kind (refused, overridden) before "and N more"

OBJECT_NAMES = {"group": "customer group", "cms_block": "CMS block", "cart_rule": "cart rule",
                "coupon": "coupon", "customer": "customer"}


def _print_plan(
    ctx: Any, data: dict[str, Any], size: int, limit: int, pending: int, not_movable: int = 0
) -> None:
    from rich.table import Table

    con = ctx.console()
    if pending:
        con.print(f"{pending} unfinished push journal(s) will be finished first by `push`.")
    if data["new_groups"]:
        con.print("Customer groups to create: " + ", ".join(data["new_groups"]))
    adopted: dict[str, int] = {}
    for a in data.get("adopted") or []:
        adopted[a["kind"]] = adopted.get(a["kind"], 0) + 1
    if adopted:
        con.print("Found in the shop with no record in the store, to be adopted (not created "
                  f"again): {_counted(adopted, OBJECT_NAMES)}.", soft_wrap=True)
    for line in data.get("duplicates") or []:
        con.print(line, markup=False, highlight=False)
    moves: dict[tuple[str, str, str], int] = {}
    for g in data["groups"]:
        k = (_cell(g["from"]), _cell(g["to"]), g["segment"] or "(none: back home)")
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
                t.add_column("coupon" if col == "coupon_code" else col)
            for r in rows:
                t.add_row(*[_cell(r.get(k), "none" if k == "coupon_code" else "-")
                            for k in keys])
            con.print(t)
    if data["drift"]:
        con.print(f"Drift (moved by hand into a managed group, left alone): {len(data['drift'])}")
        for d in data["drift"][:20]:
            con.print(f"  customer {d['customer_id']}: in {_cell(d['group'])}, segbridge would "
                      f"say {_cell(d['target'])}")
    if not_movable:
        con.print(f"{not_movable} customer(s) in a segment stay where they are: their home "
                  "group is not in push.movable_groups.")
    note = f" — more than push.max_changes = {limit}: push needs --force" if size > limit else ""
    con.print(f"{size} change(s) planned{note}.")


# --- push -----------------------------------------------------------------------------------


def push_lines(result: PushResult) -> list[str]:
    """What a push did, in sentences (no dicts)."""
    s = result.summary()
    lines: list[str] = []
    if s["resumed_batches"]:
        lines.append(f"Finished {len(s['resumed_batches'])} interrupted push journal(s).")
    steps = dict(s["steps"] or {})
    unchanged = int(steps.pop("done", 0)) - int(s["written"])
    line = f"Push: {s['planned']} change(s) planned, {s['written']} written"
    rest = [f"{n} {STEP_STATES.get(state, state)}" for state, n in sorted(steps.items()) if n]
    if unchanged > 0:
        rest.insert(0, f"{unchanged} already as wanted")
    line += f" ({', '.join(rest)})" if rest else ""
    lines.append(line + ".")
    if s["created"]:
        lines.append(f"Created {_counted(s['created'], OBJECT_NAMES)}.")
    if s.get("adopted"):
        lines.append(f"Found already in the shop and adopted: "
                     f"{_counted(s['adopted'], OBJECT_NAMES)}.")
    lines.extend(s.get("duplicates") or [])
    if s.get("adopted_customers"):
        lines.append(f"Adopted {s['adopted_customers']} customer(s) found inside managed groups "
                     "(--adopt): their home group is now the first of push.movable_groups.")
    for r in s["refused"][:SHOWN]:
        lines.append(f"refused: {OBJECT_NAMES.get(r['kind'], r['kind'])} {r['key']}: "
                     f"{r['message']}")
    if len(s["refused"]) > SHOWN:
        lines.append(f"… and {len(s['refused']) - SHOWN} more refused: see `segbridge status`")
    for o in s["overridden"][:SHOWN]:
        lines.append(f"overridden by the store: customer {o['customer_id']} kept group "
                     f"{o['group']}")
    if len(s["overridden"]) > SHOWN:
        lines.append(f"… and {len(s['overridden']) - SHOWN} more overridden by the store")
    if s["drift"] and s.get("adopted") and not s.get("adopted_customers"):
        # a store that has just adopted segbridge's objects was lost: these are most likely
        # customers segbridge placed itself before, not moves by hand
        lines.append(f"Found {len(s['drift'])} customer(s) inside managed groups with no "
                     "record of who put them there (this store has just adopted segbridge's "
                     "objects, so it was probably lost): left alone. If segbridge put them "
                     "there, `segbridge resync --adopt` takes them as its own.")
    elif s["drift"]:
        lines.append(f"Drift left alone: {len(s['drift'])} customer(s) moved by hand into a "
                     "managed group.")
    if s["interrupted"]:
        lines.append("Stopped on request: the next push finishes the rest.")
    return lines


def _print_push(ctx: Any, result: PushResult) -> None:
    con = ctx.console()
    for line in push_lines(result):
        con.print(line, markup=False, highlight=False, soft_wrap=True)


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
    client = make_client(config)
    try:
        _preflight(engine, client, config, segments)  # another shop, bad names: exit 2
    except BaseException:
        client.close()
        raise
    run_id = start_run(engine, kind)
    try:
        if as_of is not None:
            _evaluate(engine, segments, as_of, run_id, config)
        result = _push(engine, config, segments, client, force=force, run_id=run_id)
    except BaseException as exc:
        finish_run(engine, run_id, "failed", client=client, errors=1, message=str(exc)[:2000])
        raise
    finally:
        client.close()
    status = "stopped" if result.interrupted else "partial" if result.refused else "ok"
    finish_run(engine, run_id, status, counts=_push_counts(result), client=client,
               errors=len(result.refused))
    return result


def _push(
    engine: Engine, config: Any, segments: list[Any], client: Any, *, force: bool,
    run_id: int | None, adopt: bool = False,
) -> PushResult:
    """``push_once``, with its problems said once per cause."""
    from bridge.push.service import PlanTooBig

    try:
        return push_once(engine, config, segments, client, force=force, run_id=run_id,
                         adopt=adopt)
    except PlanTooBig:
        raise
    except ConfigError as exc:
        raise ConfigError(distinct_causes(exc.problems)) from None


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
    segments = _segments(config)
    own_engine = engine is None
    eng = engine if engine is not None else _open(config)
    own_client = client is None
    cli = client if client is not None else make_client(config)
    try:
        guard = run_lock(eng, wait=wait, holder=f"segbridge {kind}") if lock else nullcontext()
        with guard:
            _preflight(eng, cli, config, segments)  # exit 2 before the sync writes anything
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
                result.push = _push(eng, config, segments, cli, force=force, run_id=run_id,
                                    adopt=adopt)
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
