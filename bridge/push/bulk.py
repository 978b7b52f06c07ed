"""Group changes through the storefront module: ``module.use`` and the bulk path.

``choose_module`` is asked once per push (one ``GET /V1/segbridge/info``) and decides
whether the customer moves of that push go through ``POST /V1/segbridge/groupAssignments``
(docs/push.md "With the storefront module"): ``module.use = "auto"`` uses the module when
the store answers for it, ``"on"`` requires it (the push stops before any write when it is
missing), ``"off"`` never asks; ``module.group_assignments = false`` keeps the
per-customer GET and PUT even with the module.

``apply_bulk`` sends the journal's customer steps up to 1,000 a request. Each
assignment is a compare-and-set (the customer moves only if still in the group the plan
saw), so a request sent again after a lost answer changes nothing twice: the customers it
already moved come back ``changed_meanwhile`` in their target group, which is "done".
Before a request leaves, its steps are marked ``sent`` in the same store transaction; its
answer is recorded in one transaction per request. A request the store refuses as a
whole (a 400), or that still fails after the retry table, is handed back to the
per-customer path, so one bad record never holds the others back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bridge.errors import SegbridgeError
from bridge.magento.errors import (
    AuthError,
    ContractError,
    InvalidRequestError,
    MagentoError,
    RouteMissingError,
    TransientError,
)
from bridge.magento.module import (
    MAX_GROUP_ASSIGNMENTS,
    Assignment,
    AssignmentResult,
    ModuleAnswerError,
    ModuleInfo,
    ModuleNotGrantedError,
    assign_groups,
    module_info,
)
from bridge.push.context import PushAborted, PushContext, StepView
from bridge.shutdown import stop_requested
from bridge.store.push_tables import DONE, OVERRIDDEN, SENT, SKIPPED, STALE, PushStep
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.push")

FEATURE = "group_assignments"


class ModuleRequired(SegbridgeError):
    """``module.use = "on"`` and the store cannot be used through the module (exit 1)."""


@dataclass(frozen=True)
class ModuleChoice:
    """What one push does with the storefront module."""

    use: str  # module.use as configured
    info: ModuleInfo | None  # None: not installed, not granted, or not asked (off)
    group_assignments: bool  # customer moves go through the bulk route
    chunk_size: int = MAX_GROUP_ASSIGNMENTS
    why: str = ""  # one line: what was found and what the push does with it

    @classmethod
    def off(cls, use: str = "off", why: str = "") -> ModuleChoice:
        return cls(use, None, False, why=why)


REQUIRED = ('module.use = "on" requires segbridge\'s storefront module, but {}; nothing was '
            'written. Install it and grant its ACL resource (docs/push.md), or set '
            'module.use = "auto" to push without it')


def describe(info: ModuleInfo) -> str:
    """``Segbridge_SegmentBlock 0.2.0 (parts on: catalog_rules, group_assignments)``."""
    parts = ", ".join(sorted(info.features)) or "none"
    return f"{info.module} {info.version} (parts on: {parts})"


def choose_module(client: Any, module_cfg: Any) -> ModuleChoice:
    """Ask the store once (``GET /V1/segbridge/info``) and decide, by ``[module]``,
    whether this push moves customers through the module. ``module.use = "on"`` and no
    usable module raises ``ModuleRequired`` before anything is written."""
    use = str(getattr(module_cfg, "use", "auto") or "auto")
    bulk_wanted = bool(getattr(module_cfg, "group_assignments", True))
    if use == "off":
        return ModuleChoice.off(why='module.use = "off": customers are moved one GET and PUT '
                                    'each')
    try:
        info = module_info(client)
    except ModuleNotGrantedError as exc:
        if use == "on":
            raise ModuleRequired(REQUIRED.format(str(exc))) from None
        why = f"{exc}; until then customers are moved one GET and PUT each"
        log.warning("push: %s", why)
        return ModuleChoice.off(use, why)
    except ModuleAnswerError as exc:
        if use == "on":
            raise ModuleRequired(REQUIRED.format(f"its info route answered wrongly: {exc}")) \
                from None
        log.warning("push: %s; customers are moved one GET and PUT each", exc)
        return ModuleChoice.off(use, str(exc))
    except (TransientError, ContractError, InvalidRequestError) as exc:
        # the info route alone failing after its retries (a broken module): "auto" pushes
        # without it, as for no module; "on" stops before any write, saying why
        if use == "on":
            raise ModuleRequired(REQUIRED.format(f"its info route failed: {exc}")) from None
        why = f"GET /V1/segbridge/info failed ({exc})"
        log.warning("push: %s; customers are moved one GET and PUT each", why)
        return ModuleChoice.off(use, why)
    if info is None:
        if use == "on":
            raise ModuleRequired(REQUIRED.format(
                "the store has none (GET /V1/segbridge/info: no such route)"))
        return ModuleChoice.off(use, "no storefront module: customers are moved one GET and "
                                     "PUT each")
    if not bulk_wanted:
        return ModuleChoice(use, info, False, why=f"{describe(info)}; module.group_assignments "
                                                  "= false: customers are moved one GET and "
                                                  "PUT each")
    if not info.has(FEATURE):
        if use == "on":
            raise ModuleRequired(REQUIRED.format(
                f"its group assignments part is off ({describe(info)})"))
        return ModuleChoice(use, info, False, why=f"{describe(info)}; its group assignments "
                                                  "part is off: customers are moved one GET "
                                                  "and PUT each")
    size = max(1, min(MAX_GROUP_ASSIGNMENTS, info.max_group_assignments))
    choice = ModuleChoice(use, info, True, size,
                          f"{describe(info)}: customers are moved up to {size} a request "
                          "through POST /V1/segbridge/groupAssignments")
    log.debug("push: storefront module %s", choice.why)
    return choice


# --- the bulk path ----------------------------------------------------------------------


def outcome_of(step: StepView, target: int, result: AssignmentResult) -> Any:
    """The module's answer for one customer as the per-customer path would have seen it
    (``bridge.push.apply.CustomerOutcome``)."""
    from bridge.push.apply import CustomerOutcome

    planned_from = int(step.payload["from"])
    if result.status == "not_found":
        return CustomerOutcome(step, SKIPPED, None, target, "the customer no longer exists")
    now = int(result.group_id if result.group_id is not None else -1)
    if result.status == "applied":
        if now != target:
            return CustomerOutcome(step, OVERRIDDEN, now, target,
                                   f"the store kept group {now} instead of {target}")
        return CustomerOutcome(step, DONE, now, target)
    # changed_meanwhile: nothing written. In the target already: done (an earlier request
    # whose answer was lost, or a person); anywhere else: a change made by someone else,
    # left alone as the per-customer path leaves it (the next plan sees it as drift).
    if now == target:
        return CustomerOutcome(step, DONE, now, target, "already in the target group")
    return CustomerOutcome(step, STALE, now, target,
                           f"group is {now}, the plan saw {planned_from}: changed by "
                           "someone else")


def mark_sent(ctx: PushContext, chunk: list[tuple[StepView, int]]) -> None:
    """The chunk's steps are ``sent``, committed before the request leaves."""
    ids = [step.id for step, _ in chunk]
    with Session(ctx.engine) as s, s.begin():
        s.execute(update(PushStep).where(PushStep.id.in_(ids))
                  .values(state=SENT, updated_at=utcnow()))
    for step, _ in chunk:
        step.state = SENT


def send(ctx: PushContext, chunk: list[tuple[StepView, int]]) -> list[AssignmentResult]:
    """One request of compare-and-set assignments."""
    return assign_groups(
        ctx.remote.client,
        [Assignment(int(step.customer_id or step.key), int(step.payload["from"]), target)
         for step, target in chunk],
        chunk_size=len(chunk))


def apply_bulk(
    ctx: PushContext,
    todo: list[tuple[StepView, int]],
    persist: Callable[[PushContext, list[Any]], None],
) -> list[tuple[StepView, int]]:
    """Send ``todo`` (steps with their target group id) through the module, a request of
    at most ``ctx.module.chunk_size`` at a time; record each answer with ``persist``.

    Returns the steps left for the per-customer path: those of a request refused as a
    whole or failing after its retries, and, after an answer that is not the module's,
    every step not yet sent. A stop request ends the loop between requests (the rest stay
    in the journal)."""
    assert ctx.module is not None
    size = ctx.module.chunk_size
    left: list[tuple[StepView, int]] = []
    requests = sent = 0
    for start in range(0, len(todo), size):
        if stop_requested():
            break
        chunk = todo[start:start + size]
        mark_sent(ctx, chunk)
        try:
            results = send(ctx, chunk)
        except (ModuleAnswerError, RouteMissingError, AuthError) as exc:
            # not the module's answer, the route gone (the module removed meanwhile), or
            # its ACL resource taken away meanwhile (401/403 on this route alone: the
            # credentials still worked for the info route; refused credentials are fatal)
            if isinstance(exc, AuthError) and getattr(exc, "fatal", False):
                raise
            log.warning("push: %s; the remaining %d customer moves go one GET and PUT each",
                        exc, len(todo) - start)
            left.extend(todo[start:])
            break
        except (InvalidRequestError, ContractError) as exc:
            # refused as a whole, nothing changed: each customer gets its own verdict
            log.warning("push: a group assignment request for %d customers was refused "
                        "(%s); they are moved one GET and PUT each", len(chunk), exc)
            left.extend(chunk)
            continue
        except MagentoError as exc:
            from bridge.push.apply import RECORD_FAILURES

            if isinstance(exc, TransientError) and not isinstance(exc, RECORD_FAILURES):
                # throttled or in maintenance after the retries: the store's trouble, as
                # for the per-customer path; the journal keeps the rest (sent: resent)
                raise PushAborted(f"customer writes stopped: {exc}") from exc
            if not isinstance(exc, RECORD_FAILURES):
                raise
            # failing after the retry table (it may have been applied: the per-customer
            # path's fresh GET shows it)
            log.warning("push: a group assignment request for %d customers failed after "
                        "its retries (%s); they are moved one GET and PUT each",
                        len(chunk), exc)
            left.extend(chunk)
            continue
        requests += 1
        sent += len(chunk)
        persist(ctx, [outcome_of(step, target, r)
                      for (step, target), r in zip(chunk, results, strict=True)])
    if requests:
        log.debug("push: %d customer move(s) answered by the storefront module in %d "
                  "request(s)", sent, requests)
    return left
