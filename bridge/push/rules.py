"""Cart price rules restricted to a segment's group (docs/magento.md F1, F2, F4).

Every rule carries ``segbridge:<segment>:<n>`` in its description, so a create whose
answer was lost is found, not repeated. Updates read the whole rule and write it back
with only segbridge's fields changed: a partial PUT can lose the coupon. Specific
coupon codes go through ``/V1/coupons``.
"""

from __future__ import annotations

from typing import Any

from bridge.magento.errors import ContractError, InvalidRequestError, NotFoundError, TransientError
from bridge.push.context import PushAborted, PushContext, StepView
from bridge.push.plan import fingerprint
from bridge.push.remote import Remote, carries_marker
from bridge.store.push_tables import DONE, REFUSED

# Required on create (Magento's salesRuleDataRuleInterface; docs/magento.md F1); kept as read
# on update.
CREATE_DEFAULTS: dict[str, Any] = {
    "uses_per_customer": 0,
    "is_advanced": True,
    "times_used": 0,
    "is_rss": False,
    "use_auto_generation": False,
    "uses_per_coupon": 0,
}


def _norm(key: str, value: Any) -> Any:
    if key in ("website_ids", "customer_group_ids"):
        return sorted(int(v) for v in (value or []))
    if key in ("discount_amount", "discount_qty"):
        return None if value is None else float(value)
    if key in ("discount_step", "sort_order"):
        return None if value is None else int(value)
    if key in ("is_active", "stop_rules_processing", "apply_to_shipping"):
        return value not in (False, 0, "0", "false", None)
    if key in ("from_date", "to_date"):
        return str(value)[:10] if value else None
    return value


def differs(current: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The owned fields whose value in ``current`` is not the wanted one."""
    return [k for k, v in want.items() if _norm(k, current.get(k)) != _norm(k, v)]


def rule_id_of(rule: dict[str, Any]) -> int:
    return int(rule.get("rule_id") or rule.get("id"))


def apply_rule(ctx: PushContext, step: StepView) -> None:
    p = step.payload
    if p["action"] == "deactivate":
        _deactivate(ctx, step, int(p["magento_id"]))
        return
    gid = ctx.step_group(step)
    if gid is None:
        return
    want = dict(p["desired"]["rule"])
    want["customer_group_ids"] = [gid]
    coupon = str(p["desired"].get("coupon_code") or "")
    fp = fingerprint({"rule": want, "coupon_code": coupon})
    if not want.get("website_ids"):
        _refuse(ctx, step, "website_ids is empty (no website synced yet)")
        return
    if coupon:
        mine = step.payload.get("magento_id")
        owner = coupon_holder(ctx.remote, coupon, step.key, mine,
                              ctx.recorded_ids("cart_rule", exclude_key=step.key))
        if owner is not None:  # refused before any write: the live rule stays as it is
            _refuse(ctx, step, coupon_refusal(want.get("name"), step.segment_code, coupon,
                                              owner))
            return
    try:
        rule_id = _upsert(ctx, step, want)
        if coupon:
            _ensure_coupon(ctx, rule_id, coupon)
    except (ContractError, InvalidRequestError) as exc:
        _refuse(ctx, step, str(exc))
        return
    ctx.mark(step, DONE, magento_id=rule_id, extra=ctx.record_object(
        "cart_rule", step.key, step.segment_code or "", rule_id, active=bool(want["is_active"]),
        fingerprint=fp))


def _upsert(ctx: PushContext, step: StepView, want: dict[str, Any]) -> int:
    mid = step.payload.get("magento_id")
    if step.payload["action"] == "update" and mid:
        try:
            current = ctx.remote.get_rule(int(mid))
        except NotFoundError:
            current = None  # deleted by hand: created afresh below
        if current is not None:
            _write_back(ctx, int(mid), current, want)
            return int(mid)

    def lookup() -> dict[str, Any] | None:
        found = ctx.remote.find_rules(step.key)
        return found[0] if found else None

    rule, created = ctx.create_once(
        step, lookup=lookup, create=lambda: ctx.remote.create_rule({**CREATE_DEFAULTS, **want})
    )
    rule_id = rule_id_of(rule)
    # Keep the id at once: a kill before the coupon is made must not lose it.
    ctx.mark(step, step.state, magento_id=rule_id, extra=ctx.record_object(
        "cart_rule", step.key, step.segment_code or "", rule_id, active=bool(want["is_active"]),
        fingerprint=None))
    if created:
        ctx.tally.created["cart_rule"] += 1
    else:
        ctx.tally.adopted["cart_rule"] += 1
        _write_back(ctx, rule_id, ctx.remote.get_rule(rule_id), want)
    return rule_id


def _write_back(
    ctx: PushContext, rule_id: int, current: dict[str, Any], want: dict[str, Any]
) -> None:
    """Full read-modify-write: the whole rule as read, segbridge's fields changed."""
    if not differs(current, want):
        return
    body = {**current, **want}
    body["rule_id"] = rule_id
    ctx.remote.update_rule(rule_id, body)


def coupon_holder(
    remote: Remote, code: str, marker: str, mine: int | None, others: set[int]
) -> int | None:
    """The id of the rule holding coupon ``code`` when it is not the rule of ``marker``
    (``mine``; ``others``: the rules recorded for other markers). One GET, two when the
    holder must be read: asked before the rule is written (and by ``plan``), so a refused
    coupon never leaves the rule half-changed ("specific coupon" without a coupon)."""
    for c in remote.coupons(code=code):
        holder = int(c.get("rule_id", -1))
        if mine is not None and holder == int(mine):
            continue
        if holder in others:
            return holder  # another segment's rule
        try:
            rule = remote.get_rule(holder)
        except NotFoundError:
            return holder
        if carries_marker(str(rule.get("description") or ""), marker):
            continue  # this marker's own rule, made by a create whose answer was lost
        return holder
    return None


def coupon_refusal(name: Any, segment: str | None, code: str, holder: int) -> str:
    """One line naming the segment file's rule, the code and the rule that holds it."""
    return (f"rule {name!r} of segment {segment!r}: coupon code {code!r} already belongs to "
            f"Magento rule {holder}, which segbridge does not manage for this rule; choose "
            "another coupon_code in the segment file (the live rule is left as it is)")


def _ensure_coupon(ctx: PushContext, rule_id: int, code: str) -> None:
    """The rule's specific coupon exists (looked up first: its create may have landed)."""
    for attempt in range(3):
        found = ctx.remote.coupons(code=code)
        mine = [c for c in found if int(c.get("rule_id", -1)) == rule_id]
        if mine:
            return
        if found:
            raise ContractError(
                f"coupon code {code!r} already belongs to rule {found[0].get('rule_id')}"
            )
        try:
            ctx.remote.create_coupon(
                {"rule_id": rule_id, "code": code, "is_primary": True, "times_used": 0}
            )
            ctx.tally.created["coupon"] += 1
            return
        except TransientError as exc:
            if not exc.maybe_applied or attempt == 2:
                raise PushAborted(f"coupon {code!r} of rule {rule_id}: {exc}") from exc


def _deactivate(ctx: PushContext, step: StepView, rule_id: int) -> None:
    """Switch off a rule a removed segment used to manage (never delete it)."""
    try:
        current = ctx.remote.get_rule(rule_id)
    except NotFoundError:
        current = None
    if current is not None:
        try:
            _write_back(ctx, rule_id, current, {"is_active": False})
        except (ContractError, InvalidRequestError) as exc:
            # refused by the store: this step only (left open, it would stop every push)
            _refuse(ctx, step, f"rule {rule_id} could not be switched off: {exc}")
            return
    ctx.mark(step, DONE, magento_id=rule_id, extra=ctx.record_object(
        "cart_rule", step.key, step.segment_code or "", rule_id, active=False, fingerprint=None))


def _refuse(ctx: PushContext, step: StepView, reason: str) -> None:
    ctx.tally.refused.append({"kind": "cart_rule", "key": step.key, "message": reason})
    ctx.mark(step, REFUSED, message=reason, extra=lambda s: ctx.quarantine(s, step, reason))
