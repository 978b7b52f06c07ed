"""``segbridge plan`` and ``push``: show the plan, apply it, say what was done.

Nothing here syncs or evaluates: with ``--as-of`` the caller (``bridge.pipeline``, where
the commands are registered) hands in how to evaluate, so the push stays below the other
stages and ``run``/``resync`` live in ``bridge.pipeline``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.errors import EXIT_OK, ConfigError
from bridge.output import cell, safe
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

# ``(engine, segments, as_of, run_id, config)``: evaluate every segment as of then, recorded
# under the run (``push --as-of``).
Evaluator = Callable[[Engine, list[Any], datetime, int | None, Any], Any]
# ``(engine, segments, as_of, config)``: who would be in each segment then, recorded
# nowhere (``plan --as-of``).
DryMemberships = Callable[[Engine, list[Any], datetime, Any], dict[str, set[int]]]


def make_client(config: Any, *, read_only: bool = False) -> Any:
    from bridge.magento.client import MagentoClient

    return MagentoClient(config.magento, read_only=read_only)


def mapped_segments(config: Any) -> list[Any]:
    """The segment files; a folder without any is refused (exit 2), never taken as
    "no segments": that plan would send every member home."""
    from bridge.segments.loader.files import empty_mappings_line, load_segments

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


def preflight(engine: Engine, client: Any, config: Any, segments: list[Any]) -> None:
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


def open_writable(config: Any) -> Engine:
    from bridge.store.engine import open_store

    return open_store(config.store.url)


# --- plan ---------------------------------------------------------------------------------


def plan_command(
    ctx: Any, args: argparse.Namespace, *, dry_memberships: DryMemberships
) -> int:
    """Show the push plan; nothing is written, to Magento (the client is read-only) or to
    the store: ``--as-of`` evaluates (``dry_memberships``) without recording anything."""
    from bridge.store.engine import open_store_readonly

    config = ctx.config()
    segments = mapped_segments(config)
    as_of = getattr(args, "as_of", None)
    # without --as-of only reads: a read-only store will do; --as-of needs temporary tables
    engine = open_store_readonly(config.store.url) if as_of is None else open_writable(config)
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


def _cell(value: Any, empty: str = "-") -> str:
    """A value for people: no ``None``, control characters shown escaped (shop data: a
    group code or a rule name may hold anything). Print it with ``markup=False``, or in a
    table through ``bridge.output.cell``: a ``[/]`` in it must stay text, not markup."""
    return empty if value is None or value == "" else safe(value)


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
                "catalog_rule": "catalog rule", "coupon": "coupon", "customer": "customer",
                "catalog_rules_apply": "catalog rules"}


def _print_plan(
    ctx: Any, data: dict[str, Any], size: int, limit: int, pending: int, not_movable: int = 0
) -> None:
    from rich.table import Table

    con = ctx.console()
    if pending:
        con.print(f"{pending} unfinished push journal(s) will be finished first by `push`.")
    if data["new_groups"]:
        con.print("Customer groups to create: " + ", ".join(_cell(g) for g in data["new_groups"]),
                  markup=False)
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
        k = (_cell(g["from"]), _cell(g["to"]), _cell(g["segment"], "(none: back home)"))
        moves[k] = moves.get(k, 0) + 1
    if moves:
        t = Table(title="Customer group changes")
        for col in ("from", "to", "segment", "customers"):
            t.add_column(col)
        for (a, b, seg), n in sorted(moves.items()):
            t.add_row(cell(a), cell(b), cell(seg), str(n))
        con.print(t)
    sections = (
        ("CMS blocks", data["cms_blocks"], ("action", "identifier", "store", "segment")),
        ("Cart price rules", data["cart_rules"], ("action", "name", "segment", "group",
                                                  "coupon_code")),
        ("Catalog price rules", data.get("catalog_rules") or [],
         ("action", "name", "segment", "group")),
    )
    for kind, rows, keys in sections:
        if rows:
            t = Table(title=kind)
            for col in keys:
                t.add_column("coupon" if col == "coupon_code" else col)
            for r in rows:
                t.add_row(*[cell(r.get(k), "none" if k == "coupon_code" else "-")
                            for k in keys])
            con.print(t)
    if data["drift"]:
        con.print(f"Drift (moved by hand into a managed group, left alone): {len(data['drift'])}")
        for d in data["drift"][:20]:
            con.print(f"  customer {d['customer_id']}: in {_cell(d['group'])}, segbridge would "
                      f"say {_cell(d['target'])}", markup=False)
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
    for line in push_lines(result):  # shop data and the store's messages: shown escaped
        con.print(safe(line), markup=False, highlight=False, soft_wrap=True)


def push_command(ctx: Any, args: argparse.Namespace, *, evaluate: Evaluator) -> int:
    """Push what the store holds; ``--as-of`` first evaluates (``evaluate``) in the same
    run."""
    from bridge.lock import run_lock

    config = ctx.config()
    segments = mapped_segments(config)
    engine = open_writable(config)
    try:
        with run_lock(engine, wait=ctx.wait, holder="segbridge push"):
            result = _push_run(engine, config, segments, kind="push", evaluate=evaluate,
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
    engine: Engine, config: Any, segments: list[Any], *, kind: str, evaluate: Evaluator,
    as_of: datetime | None, force: bool,
) -> PushResult:
    client = make_client(config)
    try:
        preflight(engine, client, config, segments)  # another shop, bad names: exit 2
    except BaseException:
        client.close()
        raise
    run_id = start_run(engine, kind)
    try:
        if as_of is not None:
            evaluate(engine, segments, as_of, run_id, config)
        result = push_checked(engine, config, segments, client, force=force, run_id=run_id)
    except BaseException as exc:
        finish_run(engine, run_id, "failed", client=client, errors=1, message=str(exc)[:2000])
        raise
    finally:
        client.close()
    status = "stopped" if result.interrupted else "partial" if result.refused else "ok"
    finish_run(engine, run_id, status, counts=push_counts(result), client=client,
               errors=len(result.refused))
    return result


def push_checked(
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


def push_counts(result: PushResult) -> dict[str, Any]:
    s = result.summary()
    return {
        "planned": s["planned"],
        "steps": s["steps"],
        "created": s["created"],
        "refused": len(s["refused"]),
        "overridden": len(s["overridden"]),
        "drift": len(s["drift"]),
    }
