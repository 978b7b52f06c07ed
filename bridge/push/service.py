"""The push as a programme: plan, finish the journal, apply.

``push_once`` is what ``segbridge push`` runs, and the last stage of ``run_once``
(``bridge.pipeline``: sync + evaluate + push under one run lock), which ``segbridge run``,
``segbridge resync`` and the daemon run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bridge.errors import EXIT_OK, EXIT_PARTIAL, ConfigError
from bridge.push.adopt import adopt_objects
from bridge.push.apply import apply_batch
from bridge.push.bulk import choose_module
from bridge.push.catalog import catalog_rows, require_module
from bridge.push.context import PushContext
from bridge.push.inputs import gather, group_index, segment_maps
from bridge.push.journal import open_batches, record_plan
from bridge.push.plan import CATALOG_APPLY, ObjectRow, Plan, make_plan
from bridge.push.remote import Remote
from bridge.push.rules import coupon_holder, coupon_refusal
from bridge.runs import new_run_values
from bridge.shutdown import stop_requested
from bridge.store.models import Run
from bridge.store.push_tables import PushObject
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.push")


class PlanTooBig(ConfigError):
    """More changes than ``push.max_changes``: refused without ``--force`` (exit 2)."""


@dataclass
class PushResult:
    plan: Plan | None = None
    plan_json: dict[str, Any] = field(default_factory=dict)
    resumed_batches: list[int] = field(default_factory=list)
    batch_id: int | None = None
    states: Counter[str] = field(default_factory=Counter)
    created: Counter[str] = field(default_factory=Counter)
    adopted: Counter[str] = field(default_factory=Counter)
    refused: list[dict[str, Any]] = field(default_factory=list)
    overridden: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0  # steps that wrote to Magento (a step found already done is not one)
    interrupted: bool = False  # a stop was requested: the journal keeps the rest

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.refused else EXIT_OK

    def summary(self) -> dict[str, Any]:
        return {
            "resumed_batches": self.resumed_batches,
            "batch_id": self.batch_id,
            "planned": self.plan.size if self.plan else 0,
            "steps": dict(self.states),
            "written": self.written,
            "created": dict(self.created),
            "adopted": dict(self.adopted),
            "refused": self.refused,
            "overridden": self.overridden,
            "stale": self.stale,
            "drift": self.plan_json.get("drift", []),
            "duplicates": self.plan_json.get("duplicates", []),
            "adopted_customers": self.plan.adopted_customers if self.plan else 0,
            "interrupted": self.interrupted,
        }


def live_groups(remote: Remote) -> dict[str, tuple[int, str]]:
    return group_index(remote.groups())


def build_plan(
    engine: Engine,
    config: Any,
    segments: list[Any],
    groups: dict[str, tuple[int, str]],
    *,
    adopt: bool = False,
    remote: Remote | None = None,
    memberships: dict[str, set[int]] | None = None,
) -> Plan:
    """The plan for now: store rows + segment files + Magento's group list.

    ``segments`` come from ``load_segments``, which already refused group codes over
    32 characters and more than ``push.max_managed_groups`` groups (exit 2).
    ``adopt`` (``resync --adopt``, ``run --adopt``): customers found inside managed
    groups are taken as segbridge's own for this plan instead of drift (docs/push.md).
    ``remote``: blocks and rules the store has no record of are first looked up in
    Magento (reads only) and adopted rather than planned as creates; without it (no
    shop at hand) they are planned as creates.
    ``memberships`` (``plan --as-of``): who is in each segment, computed without recording;
    without it, the last evaluation's memberships in the store.
    """
    maps = segment_maps(engine, segments)
    inputs = gather(
        engine, maps, groups, tuple(config.push.movable_groups), bool(config.push.adopt_drift),
        adopt_customers=adopt,
    )
    if memberships is not None:
        live = sorted(m.code for m in maps if m.active and m.group_code)
        by_customer: dict[int, list[str]] = {}
        for code in live:
            for cid in memberships.get(code, ()):
                by_customer.setdefault(int(cid), []).append(code)
        inputs = replace(inputs, memberships=by_customer)
    adoption = adopt_objects(remote, inputs) if remote is not None else None
    if adoption is not None:
        inputs.objects = [*inputs.objects, *adoption.objects]
    plan = make_plan(inputs)
    if adoption is not None:
        plan.adopted = adoption.objects
        plan.duplicates = adoption.duplicates
    if remote is not None:
        plan.conflicts = coupon_conflicts(remote, plan, inputs.objects)
    return plan


def coupon_conflicts(remote: Remote, plan: Plan, recorded: list[ObjectRow]) -> list[str]:
    """The planned rule changes push will refuse because their coupon code belongs to
    another rule, so ``plan`` shows them before anything is written."""
    lines: list[str] = []
    for o in plan.objects:
        code = str(o.desired.get("coupon_code") or "")
        if o.kind != "cart_rule" or o.action == "deactivate" or not code:
            continue
        others = {r.magento_id for r in recorded if r.kind == "cart_rule" and r.key != o.key}
        holder = coupon_holder(remote, code, o.key, o.magento_id, others)
        if holder is not None:
            name = o.desired.get("rule", {}).get("name")
            lines.append(f"will be refused: cart rule {o.key}: "
                         + coupon_refusal(name, o.segment_code, code, holder))
    return lines


def plan_to_json(engine: Engine, plan: Plan, groups: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """docs/commands.md: group codes, not ids."""
    code_of = {gid: code for gid, code in groups.values()}
    with Session(engine) as s:
        rule_names = {o.key: o.magento_id for o in s.scalars(select(PushObject))}

    def code(gid: int | None) -> str | None:
        return None if gid is None else code_of.get(gid, str(gid))

    blocks: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    catalog = catalog_rows(plan, rule_names)
    for o in plan.objects:
        d = o.desired
        if o.kind in ("catalog_rule", CATALOG_APPLY):
            continue
        if o.kind == "cms_block":
            blocks.append({
                "action": o.action,
                "identifier": d.get("identifier"),
                "store": d.get("store_code"),
                "segment": o.segment_code,
                "group": o.group_code,
                "title": d.get("title"),
                "active": d.get("active", False) if o.action != "deactivate" else False,
                "block_id": o.magento_id,
            })
        else:
            rule = d.get("rule", {})
            rules.append({
                "action": o.action,
                "marker": o.key,
                "name": rule.get("name"),
                "segment": o.segment_code,
                "group": o.group_code,
                "coupon_code": d.get("coupon_code") or None,
                "rule_id": o.magento_id if o.magento_id is not None else rule_names.get(o.key),
            })
    return {
        "groups": [
            {"customer_id": c.customer_id, "from": code(c.from_group_id), "to": c.to_group_code,
             "segment": c.segment}
            for c in plan.changes
        ],
        "cms_blocks": blocks,
        "cart_rules": rules,
        "catalog_rules": catalog,
        "drift": [
            {"customer_id": d.customer_id, "group": code(d.group_id), "target": d.target_code}
            for d in plan.drift
        ],
        "new_groups": [g.code for g in plan.group_creates],
        "adopted": [
            {"kind": o.kind, "key": o.key, "id": o.magento_id, "segment": o.segment_code}
            for o in plan.adopted
        ],
        "duplicates": [*plan.duplicates, *plan.conflicts],
        "adopted_customers": plan.adopted_customers,
        "held_back": plan.overridden_kept,
    }


def push_once(
    engine: Engine,
    config: Any,
    segments: list[Any],
    client: Any,
    *,
    force: bool = False,
    run_id: int | None = None,
    adopt: bool = False,
) -> PushResult:
    """Finish any unfinished journal, then plan afresh and apply (docs/push.md, docs/commands.md).

    ``adopt``: customers found inside managed groups are segbridge's own for this push
    (home group = the first of ``push.movable_groups``), not drift.
    """
    segment_maps(engine, segments)  # unknown website codes: exit 2 before any write
    remote = Remote(client)
    ctx = PushContext(
        engine=engine,
        remote=remote,
        tax_class_id=int(config.push.tax_class_id),
        groups=live_groups(remote),
        run_id=run_id,
    )
    # the storefront module, asked once (module.use = "on" and none: exit 1, nothing written)
    ctx.module = choose_module(client, getattr(config, "module", None))
    require_module(ctx.module, segments)  # [[catalog_rules]] without it: exit 2, nothing written
    result = PushResult()
    concurrency = int(config.magento.write_concurrency)
    for batch_id in open_batches(engine):
        log.info("push: finishing batch %s left by an interrupted push", batch_id)
        apply_batch(ctx, batch_id, concurrency)
        result.resumed_batches.append(batch_id)

    if stop_requested():  # SIGTERM: leave the rest to the next push, plan nothing new
        result.interrupted = True
        _tally(result, ctx)
        return result
    plan = build_plan(engine, config, segments, ctx.groups, adopt=adopt, remote=remote)
    result.plan = plan
    result.plan_json = plan_to_json(engine, plan, ctx.groups)
    result.plan_json["duplicates"] = list(plan.duplicates)  # a conflict: its refused line
    if plan.problems:
        raise ConfigError(plan.problems)
    limit = int(config.push.max_changes)
    if plan.size > limit and not force:
        raise PlanTooBig([
            f"the plan has {plan.size} changes, more than push.max_changes = {limit}: "
            "nothing written; check it with `segbridge plan`, then `segbridge push --force`"
        ])
    batch_id = record_plan(engine, plan, run_id=run_id, forced=force)
    for o in plan.adopted:  # recorded with the plan: found, not created
        ctx.tally.adopted[o.kind] += 1
    result.batch_id = batch_id
    if batch_id is not None:
        apply_batch(ctx, batch_id, concurrency)
        # a stop left steps pending: the batch stays open for the next push
        result.interrupted = stop_requested() and batch_id in open_batches(engine)
    _tally(result, ctx)
    return result


def _tally(result: PushResult, ctx: PushContext) -> None:
    result.states = ctx.tally.states
    result.created = ctx.tally.created
    result.adopted = ctx.tally.adopted
    result.refused = ctx.tally.refused
    result.overridden = ctx.tally.overridden
    result.stale = ctx.tally.stale
    result.written = ctx.tally.written


# --- runs ---------------------------------------------------------------------------


def start_run(engine: Engine, kind: str) -> int:
    with Session(engine) as s, s.begin():
        run = Run(**new_run_values(kind))
        s.add(run)
        s.flush()
        return int(run.id)


def finish_run(
    engine: Engine,
    run_id: int,
    status: str,
    *,
    counts: dict[str, Any] | None = None,
    client: Any = None,
    errors: int = 0,
    message: str | None = None,
) -> None:
    with Session(engine) as s, s.begin():
        run = s.get(Run, run_id)
        if run is None:
            return
        run.ended_at = utcnow()
        run.status = status
        run.counts = counts
        run.errors = errors
        run.message = message
        stats = getattr(client, "stats", None)
        if stats is not None:
            run.requests = int(_stat(stats, "requests"))
            run.retries = int(_stat(stats, "retries"))


def _stat(stats: Any, name: str) -> int:
    if isinstance(stats, dict):
        return int(stats.get(name, 0) or 0)
    value = getattr(stats, name, 0)
    if isinstance(value, dict | Counter):
        return int(sum(value.values()))
    return int(value or 0)
