"""Catalog price rules restricted to a segment's group, through the storefront module.

Core Open Source REST has no catalog rule routes; segbridge's module adds them
(``/V1/segbridge/catalogRules``, docs/storefront.md). They are managed exactly as cart
rules (``bridge.push.rules``): every rule carries ``segbridge:<segment>:catalog:<n>`` at
the start of its description, so a create whose answer was lost is found, not repeated;
only recorded ids are touched; an update reads the whole rule and writes it back with
segbridge's fields changed; a rule a segment file drops is deactivated, never deleted.

After the catalog rule steps of a plan, one ``catalog_rules_apply`` step asks Magento to
apply the rules (the admin's "Apply Rules": the ``catalogrule_rule`` indexer rebuilds the
rule prices), so the storefront shows the new prices.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import ConfigError
from bridge.magento.errors import (
    AuthError,
    ContractError,
    InvalidRequestError,
    NotFoundError,
    RouteMissingError,
)
from bridge.magento.module import (
    CatalogRule,
    ModuleAnswerError,
    ModuleNotGrantedError,
    apply_catalog_rules,
    create_catalog_rule,
    get_catalog_rule,
    search_catalog_rules,
    update_catalog_rule,
)
from bridge.magento.search import SearchCriteria
from bridge.push.context import PushAborted, PushContext, StepView
from bridge.push.plan import CATALOG_APPLY, fingerprint
from bridge.push.remote import carries_marker
from bridge.store.push_tables import DONE, REFUSED, SKIPPED, PushStep

log = logging.getLogger("bridge.push")

FEATURE = "catalog_rules"
NEEDED = ("needs segbridge's storefront module (its catalog rule routes), but {}; nothing "
          "was written. Install the module and grant its ACL resource (docs/storefront.md), "
          "or remove the table")
# What a store without the module (or without its grant) answers a catalog rule route.
NO_MODULE = (RouteMissingError, ModuleNotGrantedError)


def module_missing(choice: Any) -> str | None:
    """Why this push cannot write catalog rules (``bridge.push.bulk.ModuleChoice``), or
    None when it can."""
    info = getattr(choice, "info", None)
    if choice is None or info is None:
        if getattr(choice, "use", "") == "off":
            return 'module.use = "off"'
        # ModuleChoice.why without what it means for customer moves
        why = re.split(r"; |: customers", getattr(choice, "why", "") or "")[0]
        return f"none is usable ({why or 'the store has none'})"
    if not info.has(FEATURE):
        return f"its catalog rules part is off ({info.module} {info.version})"
    return None


def require_module(choice: Any, segments: list[Any]) -> None:
    """Before anything is written: an active segment with a ``[group]`` and
    ``[[catalog_rules]]`` on a store without a usable module stops the push (exit 2),
    one line per segment file."""
    why = module_missing(choice)
    if why is None:
        return
    lines = [f"{seg.source}: catalog_rules: " + NEEDED.format(why)
             for seg in segments
             if seg.active and seg.group is not None and getattr(seg, "catalog_rules", None)]
    if lines:
        raise ConfigError(lines)


# --- the rule as the module carries it -------------------------------------------------


def _rule(want: dict[str, Any], rule_id: int | None) -> CatalogRule:
    """The wanted fields (``plan.catalog_desired``) as a ``CatalogRule``."""
    def day(value: Any) -> date | None:
        return date.fromisoformat(str(value)[:10]) if value else None

    return CatalogRule(
        name=str(want["name"]),
        website_ids=tuple(sorted(int(i) for i in want["website_ids"])),
        customer_group_ids=tuple(sorted(int(i) for i in want["customer_group_ids"])),
        simple_action=str(want["simple_action"]),
        discount_amount=float(want["discount_amount"]),
        rule_id=rule_id,
        description=str(want.get("description") or ""),
        is_active=bool(want["is_active"]),
        from_date=day(want.get("from_date")),
        to_date=day(want.get("to_date")),
        stop_rules_processing=bool(want.get("stop_rules_processing")),
        sort_order=int(want.get("sort_order") or 0),
        skus=tuple(str(s) for s in want.get("skus") or ()),
    )


def _norm(rule: CatalogRule) -> CatalogRule:
    """Compared without regard to the order of ids and SKUs (Magento sorts them)."""
    return replace(rule, website_ids=tuple(sorted(rule.website_ids)),
                   customer_group_ids=tuple(sorted(rule.customer_group_ids)),
                   skus=tuple(sorted(rule.skus)), description=rule.description or "")


def same_rule(current: CatalogRule, want: dict[str, Any]) -> bool:
    """``current`` already holds every field segbridge manages as wanted (a rule with
    conditions made in the admin never does: segbridge's SKU list replaces them)."""
    if current.has_other_conditions:
        return False
    return _norm(current) == _norm(_rule(want, current.rule_id))


def find_rules(client: Any, marker: str) -> list[CatalogRule]:
    """Catalog rules carrying ``marker`` where segbridge writes it: the very start of the
    description, then its end or a space."""
    crit = SearchCriteria().where("description", "like", f"{marker}%")
    return [r for r in search_catalog_rules(client, crit)
            if carries_marker(r.description or "", marker)]


# --- the journal steps -------------------------------------------------------------------


def apply_catalog_rule(ctx: PushContext, step: StepView) -> None:
    p = step.payload
    why = module_missing(ctx.module)
    if why is not None:  # the module went away since the plan was recorded
        raise PushAborted(f"catalog rule {step.key}: " + NEEDED.format(why))
    if p["action"] == "deactivate":
        try:
            _deactivate(ctx, step, int(p["magento_id"]))
        except STEP_REFUSALS as exc:
            _refuse_or_raise(ctx, step, exc)
        return
    gid = ctx.step_group(step)
    if gid is None:
        return
    want = dict(p["desired"]["rule"])
    want["customer_group_ids"] = [gid]
    fp = fingerprint({"rule": want})
    if not want.get("website_ids"):
        _refuse(ctx, step, "website_ids is empty (no website synced yet)")
        return
    try:
        rule_id = _upsert(ctx, step, want)
    except STEP_REFUSALS as exc:
        _refuse_or_raise(ctx, step, exc)
        return
    ctx.mark(step, DONE, magento_id=rule_id, extra=ctx.record_object(
        "catalog_rule", step.key, step.segment_code or "", rule_id,
        active=bool(want["is_active"]), fingerprint=fp))


def _upsert(ctx: PushContext, step: StepView, want: dict[str, Any]) -> int:
    client = ctx.remote.client
    mid = step.payload.get("magento_id")
    if step.payload["action"] == "update" and mid:
        try:
            current: CatalogRule | None = get_catalog_rule(client, int(mid))
        except NotFoundError:
            current = None  # deleted by hand: created afresh below
        if current is not None:
            _write_back(ctx, current, want)
            return int(mid)

    def lookup() -> dict[str, Any] | None:
        found = find_rules(client, step.key)
        return found[0].to_json() if found else None

    def create() -> dict[str, Any]:
        made = create_catalog_rule(client, _rule(want, None))
        ctx.remote.writes += 1
        return made.to_json()

    rule, created = ctx.create_once(step, lookup=lookup, create=create)
    rule_id = int(rule["rule_id"])
    # keep the id at once: a kill right after must not lose it
    ctx.mark(step, step.state, magento_id=rule_id, extra=ctx.record_object(
        "catalog_rule", step.key, step.segment_code or "", rule_id,
        active=bool(want["is_active"]), fingerprint=None))
    if created:
        ctx.tally.created["catalog_rule"] += 1
    else:
        ctx.tally.adopted["catalog_rule"] += 1
        _write_back(ctx, get_catalog_rule(client, rule_id), want)
    return rule_id


def _write_back(ctx: PushContext, current: CatalogRule, want: dict[str, Any]) -> None:
    """Read-modify-write: the rule as read, with segbridge's fields as wanted."""
    if same_rule(current, want):
        return
    update_catalog_rule(ctx.remote.client, _rule({**_fields(current), **want}, current.rule_id))
    ctx.remote.writes += 1


def _fields(rule: CatalogRule) -> dict[str, Any]:
    """A rule as read, in the shape ``_rule`` takes (what segbridge does not set is kept)."""
    return {k: v for k, v in rule.to_json().items() if k != "rule_id"}


def _deactivate(ctx: PushContext, step: StepView, rule_id: int) -> None:
    """Switch off a rule a removed segment (or a dropped table entry) used to manage."""
    try:
        current: CatalogRule | None = get_catalog_rule(ctx.remote.client, rule_id)
    except NotFoundError:
        current = None
    if current is not None and current.is_active:
        # only is_active changes: the rest of the rule (its conditions too) is kept
        try:
            update_catalog_rule(ctx.remote.client, replace(current, is_active=False))
        except (ContractError, InvalidRequestError) as exc:
            # the rule as the store holds it cannot be written back (refused here or by
            # the store): this step is refused; left open, it would stop every push
            _refuse(ctx, step, f"rule {rule_id} could not be switched off: {exc}")
            return
        ctx.remote.writes += 1
    ctx.mark(step, DONE, magento_id=rule_id, extra=ctx.record_object(
        "catalog_rule", step.key, step.segment_code or "", rule_id, active=False,
        fingerprint=None))


# What refuses one catalog rule step (quarantined, planned again by the next push) rather
# than the push: the store refusing the rule, a rule answer that is not the module's, or
# the module's route gone or its grant taken away since detection. Left to raise, any of
# these would stop this push before the customer moves, and the open batch every later one.
STEP_REFUSALS = (ContractError, InvalidRequestError, ModuleAnswerError, RouteMissingError,
                 AuthError)


def _refuse_or_raise(ctx: PushContext, step: StepView, exc: Exception) -> None:
    if getattr(exc, "fatal", False):  # refused credentials: nothing else can get through
        raise exc
    _refuse(ctx, step, str(exc))


def _refuse(ctx: PushContext, step: StepView, reason: str) -> None:
    ctx.tally.refused.append({"kind": "catalog_rule", "key": step.key, "message": reason})
    ctx.mark(step, REFUSED, message=reason, extra=lambda s: ctx.quarantine(s, step, reason))


def apply_rules(ctx: PushContext, step: StepView) -> None:
    """Once per plan, after its catalog rule steps: ask Magento to apply the rules, when
    at least one of those steps got through (a plan whose catalog rules were all refused
    changed none)."""
    with Session(ctx.engine) as s:
        states = set(s.scalars(select(PushStep.state).where(
            PushStep.batch_id == step.batch_id, PushStep.kind == "catalog_rule")))
    if DONE not in states:
        ctx.mark(step, SKIPPED, message="no catalog rule was written")
        return
    why = module_missing(ctx.module)
    if why is not None:
        raise PushAborted("applying the catalog rules: " + NEEDED.format(why))
    from bridge.push.apply import RECORD_FAILURES

    try:
        apply_catalog_rules(ctx.remote.client)
    except (ModuleAnswerError, RouteMissingError, ContractError, InvalidRequestError,
            *RECORD_FAILURES) as exc:
        # The rules themselves are written; only the price rebuild was not asked for. The
        # customer moves must not wait on it: the step stays open in the journal (the
        # batch with it), the next push asks again, and this one ends partial (exit 3).
        reason = (f"failed: {exc}; the rules are written, and the next push asks Magento "
                  "again to apply them")
        log.warning("push: applying the catalog rules %s", reason)
        ctx.tally.refused.append({"kind": CATALOG_APPLY, "key": "(Apply Rules)",
                                  "message": reason})
        return
    ctx.remote.writes += 1
    ctx.mark(step, DONE)


def catalog_rows(plan: Any, recorded_ids: dict[str, int]) -> list[dict[str, Any]]:
    """The plan's catalog rule writes for ``plan --json`` (``catalog_rules``)."""
    rows: list[dict[str, Any]] = []
    for o in plan.objects:
        if o.kind != "catalog_rule":
            continue
        rule = o.desired.get("rule", {})
        rows.append({
            "action": o.action,
            "marker": o.key,
            "name": rule.get("name"),
            "segment": o.segment_code,
            "group": o.group_code,
            "simple_action": rule.get("simple_action"),
            "discount_amount": rule.get("discount_amount"),
            "skus": list(rule.get("skus") or []),
            "rule_id": o.magento_id if o.magento_id is not None else recorded_ids.get(o.key),
        })
    return rows


def online_problems(config: Any, segments: list[Any], module: dict[str, Any] | None
                    ) -> list[str]:
    """``check --online``: ``[[catalog_rules]]`` of an active segment with a ``[group]`` on a
    store whose module cannot take them (``module``: what the module probe found), one
    line per file; with ``module.use = "off"`` the loader has already refused them."""
    from bridge.segments.loader.messages import _display

    use = str(getattr(getattr(config, "module", None), "use", "auto"))
    if module is None or use == "off":
        return []
    if module.get("installed") and module.get("granted"):
        if FEATURE in (module.get("features") or ()):
            return []
        why = "its catalog rules part is off"
    elif module.get("installed"):
        why = "these credentials lack its ACL resource"
    else:
        why = "the store has none (GET /V1/segbridge/info: no such route)"
    base = getattr(config, "base_dir", None)
    return [f"{_display(seg.source, base)}: catalog_rules: needs segbridge's storefront module "
            f"(its catalog rule routes), but {why}; push would stop before any write. Install "
            "the module and grant its ACL resource (docs/storefront.md), or remove the table"
            for seg in segments
            if seg.active and seg.group is not None and getattr(seg, "catalog_rules", None)]
