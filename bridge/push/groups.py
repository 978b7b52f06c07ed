"""Managed customer groups: created when missing, upserted by code, never deleted."""

from __future__ import annotations

from typing import Any

from bridge.magento.errors import ContractError, InvalidRequestError
from bridge.push.context import PushContext, StepView
from bridge.push.plan import MAX_GROUP_CODE
from bridge.store.push_tables import DONE, REFUSED, SENT

ALREADY_EXISTS = "already exists"


def apply_group(ctx: PushContext, step: StepView) -> None:
    """Create the group ``step.payload["code"]`` unless Magento already has it."""
    code = str(step.payload["code"])
    if len(code) > MAX_GROUP_CODE:  # Magento would truncate it silently (docs/magento.md G2)
        _refuse(ctx, step, f"group code {code!r} is longer than {MAX_GROUP_CODE} characters")
        return
    known = ctx.groups.get(code.casefold())
    if known is not None:
        # already there (a ``sent`` step: our own create, whose answer was lost)
        _done(ctx, step, code, known[0], created=step.state == SENT)
        return
    try:
        group, created = ctx.create_once(
            step,
            lookup=lambda: ctx.remote.find_group(code),
            create=lambda: ctx.remote.create_group(code, ctx.tax_class_id),
        )
    except (ContractError, InvalidRequestError) as exc:
        # "Customer Group already exists." after a lost answer: adopt it by code.
        found = ctx.remote.find_group(code) if ALREADY_EXISTS in exc.message.lower() else None
        if found is None:
            _refuse(ctx, step, str(exc))
            return
        group, created = found, False
    tax = group.get("tax_class_id")
    _done(ctx, step, str(group.get("code", code)), int(group["id"]), created=created,
          tax_class_id=int(tax) if tax is not None else ctx.tax_class_id)


def _done(ctx: PushContext, step: StepView, code: str, group_id: int, *, created: bool,
          tax_class_id: int | None = None) -> None:
    ctx.groups[code.casefold()] = (group_id, code)
    if created:
        ctx.tally.created["group"] += 1
    ctx.mark(step, DONE, magento_id=group_id,
             extra=ctx.record_group(code, group_id, created, tax_class_id))


def _refuse(ctx: PushContext, step: StepView, reason: str) -> None:
    ctx.tally.refused.append({"kind": "group", "key": step.key, "message": reason})

    def extra(s: Any) -> None:
        ctx.quarantine(s, step, reason)

    ctx.mark(step, REFUSED, message=reason, extra=extra)
