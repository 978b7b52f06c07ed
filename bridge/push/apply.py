"""Apply a journaled plan: groups, then blocks and rules, then customers.

Customer writes run through a pool of ``magento.write_concurrency`` threads (the client
enforces ``writes_per_second``); only the main thread touches the store. Each write is
a fresh GET and a PUT of the whole customer with only ``group_id`` changed (docs/push.md);
the GET also tells whether an earlier, interrupted push already made the change. When
the push uses the storefront module (``bridge.push.bulk``), customers are moved up to
1,000 a request by its compare-and-set route instead, and their outcomes recorded one
request at a time (``persist_outcomes``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bridge.magento.errors import (
    BadResponseError,
    ConnectionFailedError,
    ContractError,
    DeadlockError,
    GatewayError,
    InvalidRequestError,
    MagentoError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    TransientError,
)
from bridge.push.catalog import apply_catalog_rule, apply_rules
from bridge.push.cms import apply_block
from bridge.push.context import PushAborted, PushContext, StepView
from bridge.push.groups import apply_group
from bridge.push.journal import close_batch, unfinished_steps
from bridge.push.plan import CATALOG_APPLY
from bridge.push.remote import Remote
from bridge.push.rules import apply_rule
from bridge.shutdown import stop_requested
from bridge.store.models import Customer
from bridge.store.push_tables import (
    DONE,
    OVERRIDDEN,
    REFUSED,
    SKIPPED,
    STALE,
    PushCustomer,
    PushStep,
)
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.push")

# Failures of one customer's write that leave the others to go on (quarantined). A
# throttled or maintenance answer is the whole store's: the push stops as before.
RECORD_FAILURES = (
    ServerError, GatewayError, RequestTimeoutError, ConnectionFailedError, DeadlockError,
    BadResponseError,
)
# This many customer writes failing in a row (none getting through in between) means
# the store, not a record, is failing: the push stops and the journal keeps the rest.
FAILURES_IN_A_ROW = 10
RECORD_FAILURES_T = (
    ServerError | GatewayError | RequestTimeoutError | ConnectionFailedError | DeadlockError
    | BadResponseError
)

# Keys never sent back in a customer PUT (docs/push.md, docs/magento.md A2, A6, A12).
DROPPED_KEYS = ("addresses", "default_billing", "default_shipping", "extension_attributes")


def customer_body(fresh: dict[str, Any], group_id: int) -> dict[str, Any]:
    """The customer as read, ``group_id`` changed, without the keys that would change
    anything else (and without null custom attributes, which Magento rejects)."""
    body = {k: v for k, v in fresh.items() if k not in DROPPED_KEYS}
    attrs = body.get("custom_attributes")
    if isinstance(attrs, list):
        kept = [a for a in attrs if isinstance(a, dict) and a.get("value") is not None]
        if kept:
            body["custom_attributes"] = kept
        else:
            body.pop("custom_attributes")
    body["id"] = int(fresh["id"])
    body["group_id"] = int(group_id)
    return body


@dataclass
class CustomerOutcome:
    step: StepView
    state: str
    group_now: int | None
    target: int | None
    message: str | None = None
    failed: bool = False  # a 5xx or timeout after the retries, not a refusal


def write_customer(remote: Remote, step: StepView, target: int) -> CustomerOutcome:
    """GET, then PUT only if the customer is still where the plan saw them."""
    cid = int(step.customer_id or step.key)
    planned_from = int(step.payload["from"])
    try:
        fresh = remote.get_customer(cid)
        now = int(fresh.get("group_id", -1))
        if now == target:
            return CustomerOutcome(step, DONE, now, target, "already in the target group")
        if now != planned_from:
            return CustomerOutcome(
                step, STALE, now, target,
                f"group is {now}, the plan saw {planned_from}: changed by someone else",
            )
        answer = remote.put_customer(cid, customer_body(fresh, target))
    except NotFoundError:
        return CustomerOutcome(step, SKIPPED, None, target, "the customer no longer exists")
    except (ContractError, InvalidRequestError) as exc:
        return CustomerOutcome(step, REFUSED, None, target, str(exc))
    except RECORD_FAILURES as exc:
        # Still failing after the retry table: this record's trouble, not the store's
        # (docs/push.md "one bad record never blocks the rest"): quarantined like a 400, and
        # planned again by the next push. A lost answer is no harm: that push's GET
        # shows whether the PUT landed.
        return CustomerOutcome(step, REFUSED, None, target,
                               f"failed after retries: {exc}", failed=True)
    got = int(answer.get("group_id", -1))
    if got != target:
        return CustomerOutcome(
            step, OVERRIDDEN, got, target,
            f"the store kept group {got} instead of {target} (e.g. VAT-based assignment)",
        )
    return CustomerOutcome(step, DONE, got, target)


def _persist_customer(ctx: PushContext, out: CustomerOutcome) -> None:
    persist_outcomes(ctx, [out])


def persist_outcomes(ctx: PushContext, outs: list[CustomerOutcome]) -> None:
    """Record customer outcomes (journal steps, the local customer rows, home-group
    bookkeeping, quarantine) in one store transaction: one customer's for the
    per-customer path, a whole request's for the bulk path."""
    if not outs:
        return
    now = utcnow()
    with Session(ctx.engine) as s, s.begin():
        s.execute(
            update(PushStep.__table__)
            .where(PushStep.__table__.c.id == bindparam("b_id"))
            .values(state=bindparam("b_state"), magento_id=bindparam("b_mid"),
                    message=bindparam("b_msg"), updated_at=now),
            [{"b_id": o.step.id, "b_state": o.state,
              # magento_id of a done customer step: the group the customer is in now
              # (the move applied; the report counts these)
              "b_mid": o.group_now if o.state == DONE else None,
              "b_msg": o.message[:4000] if o.message is not None else None} for o in outs],
        )
        groups = [{"b_cid": _cid(o), "b_gid": o.group_now} for o in outs
                  if o.group_now is not None]
        if groups:
            table = Customer.__table__
            s.execute(update(table).where(table.c.id == bindparam("b_cid"))
                      .values(group_id=bindparam("b_gid")), groups)
        done = [o for o in outs if o.state == DONE]
        overridden = [o for o in outs if o.state == OVERRIDDEN]
        _home_rows(s, [(_cid(o), o.target) for o in done], written=True, now=now)
        _home_rows(s, [(_cid(o), o.target) for o in overridden], written=False, now=now)
        for o in outs:
            if o.state == DONE:
                ctx.unquarantine(s, o.step)
            elif o.state == SKIPPED and o.group_now is None:
                # gone from Magento: what a full sync would record
                s.execute(update(Customer).where(Customer.id == _cid(o)).values(deleted=True))
                # nothing will plan it again: a quarantine row for it would stay open for ever
                ctx.unquarantine(s, o.step, why="the customer no longer exists in Magento")
            elif o.state == REFUSED:
                ctx.quarantine(s, o.step, o.message or "refused")
    for out in outs:
        out.step.state = out.state
        ctx.tally.states[out.state] += 1
        _tally_customer(ctx, out)


def _cid(out: CustomerOutcome) -> int:
    return int(out.step.customer_id or out.step.key)


def _tally_customer(ctx: PushContext, out: CustomerOutcome) -> None:
    cid = _cid(out)
    if out.state == DONE and out.message is None:  # written, not "already in the group"
        ctx.tally.written += 1
    if out.state == REFUSED:
        log.warning("push: customer %s quarantined: %s", cid, out.message)
        ctx.tally.refused.append(
            {"kind": "customer", "key": out.step.key, "customer_id": cid,
             "message": out.message}
        )
    elif out.state == OVERRIDDEN:
        ctx.tally.overridden.append(
            {"customer_id": cid, "target": out.target, "group": out.group_now}
        )
    elif out.state == STALE:
        ctx.tally.stale.append({"customer_id": cid, "group": out.group_now})


def _home_rows(s: Session, rows: list[tuple[int, int | None]], *, written: bool,
               now: Any) -> None:
    """Home-group bookkeeping for (customer, target): written (the target is where
    segbridge put them) or overridden (the store kept another group: not fought)."""
    if not rows:
        return
    values: dict[str, Any] = (
        {"written_group_id": bindparam("b_target"), "written_at": now,
         "overridden_target_id": None, "overridden_at": None} if written
        else {"overridden_target_id": bindparam("b_target"), "overridden_at": now})
    table = PushCustomer.__table__
    ids = [cid for cid, _ in rows]
    have: set[int] = set()
    for i in range(0, len(ids), 1000):
        have.update(s.scalars(select(PushCustomer.customer_id)
                              .where(PushCustomer.customer_id.in_(ids[i:i + 1000]))))
    s.execute(update(table).where(table.c.customer_id == bindparam("b_cid")).values(**values),
              [{"b_cid": cid, "b_target": target} for cid, target in rows if cid in have])
    for cid, target in rows:
        if cid not in have:
            # A customer step without a home row (should not happen): keep the facts anyway.
            fact = ({"written_group_id": target, "written_at": now} if written
                    else {"overridden_target_id": target, "overridden_at": now})
            s.add(PushCustomer(customer_id=cid, home_group_id=target if written else 0,
                               first_seen_at=now, **fact))


def _customer_steps(
    ctx: PushContext, steps: list[StepView]
) -> Iterator[tuple[StepView, int]]:
    for step in steps:
        target = step.payload.get("to_id")
        if target is None:
            target = ctx.group_id(step.payload.get("to_code"))
        if target is None or int(target) in (0, 32000):
            ctx.mark(step, SKIPPED, message=f"group {step.payload.get('to_code')!r} does not exist")
            continue
        yield step, int(target)


def _quarantined_last(
    ctx: PushContext, steps: list[StepView]
) -> tuple[list[StepView], set[int]]:
    """The steps with the customers already quarantined by an earlier push moved after
    the others (a record that keeps failing must not hold the healthy ones back), and
    the ids of those steps."""
    with Session(ctx.engine) as s:
        open_keys = {rec for ent, rec in ctx.open_quarantine(s) if ent == "push:customer"}
    held = {st.id for st in steps if st.key[:64] in open_keys}
    ordered = [st for st in steps if st.id not in held] + [st for st in steps if st.id in held]
    return ordered, held


def apply_customers(ctx: PushContext, steps: list[StepView], concurrency: int) -> None:
    """Customer writes: through the storefront module's bulk route when this push uses
    it (``bridge.push.bulk``), else (and for what the bulk route hands back) one GET and
    PUT each."""
    steps, held = _quarantined_last(ctx, steps)
    todo: Iterator[tuple[StepView, int]] = _customer_steps(ctx, steps)
    if ctx.module is not None and ctx.module.group_assignments:
        from bridge.push.bulk import apply_bulk

        todo = iter(apply_bulk(ctx, list(todo), persist_outcomes))
        if stop_requested():
            return
    write_customers(ctx, todo, held, concurrency)


def write_customers(ctx: PushContext, todo: Iterator[tuple[StepView, int]], held: set[int],
                    concurrency: int) -> None:
    """Customer writes through ``concurrency`` threads; the store is written here only.

    Customers quarantined by an earlier push are tried last, and their failing again
    does not count towards ``FAILURES_IN_A_ROW``: only records not yet known to fail
    can tell that the store itself is failing."""
    window = max(1, concurrency) * 2
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="push") as pool:
        running: set[Future[CustomerOutcome]] = set()

        def fill() -> None:
            # SIGTERM/SIGINT (bridge.shutdown): submit nothing new; the writes in flight
            # finish and are recorded, the journal keeps the rest for the next push.
            while failure is None and len(running) < window and not stop_requested():
                nxt = next(todo, None)
                if nxt is None:
                    return
                running.add(pool.submit(write_customer, ctx.remote, nxt[0], nxt[1]))

        fill()
        in_a_row = 0
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                running.discard(fut)
                try:
                    out = fut.result()
                    _persist_customer(ctx, out)
                except (TransientError, MagentoError) as exc:
                    failure = failure or exc
                    continue
                if out.step.id not in held:
                    in_a_row = in_a_row + 1 if out.failed else 0
                if in_a_row >= FAILURES_IN_A_ROW and failure is None:
                    failure = TransientError(
                        f"{in_a_row} customer writes in a row failed after their retries "
                        f"(the last: {out.message})"
                    )
            fill()
    if isinstance(failure, TransientError):
        raise PushAborted(f"customer writes stopped: {failure}") from failure
    if failure is not None:
        raise failure


HANDLERS = {"group": apply_group, "cms_block": apply_block, "cart_rule": apply_rule,
            "catalog_rule": apply_catalog_rule, CATALOG_APPLY: apply_rules}
# Blocks and rules whose write still fails after the retry table are quarantined like a
# customer and the push goes on (a group is not: the customer moves need it). This many
# in a row is the store failing, not a record: the push stops.
QUARANTINABLE_KINDS = ("cms_block", "cart_rule", "catalog_rule")
OBJECT_FAILURES_IN_A_ROW = 5


def _record_failure(exc: BaseException) -> RECORD_FAILURES_T | None:
    """The record-level failure behind ``exc`` (itself, or what a ``PushAborted`` wraps)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RECORD_FAILURES):
            return seen
        seen = seen.__cause__
    return None


def _quarantine_object(ctx: PushContext, step: StepView, exc: BaseException) -> None:
    """A block or rule that still fails after its retries: refused for this push, listed
    by ``status``, planned again by the next push (its fingerprint was not recorded)."""
    reason = f"failed after retries: {exc}"
    log.warning("push: %s %s quarantined: %s", step.kind, step.key, reason)
    ctx.tally.refused.append({"kind": step.kind, "key": step.key, "message": reason})
    ctx.mark(step, REFUSED, message=reason, extra=lambda s: ctx.quarantine(s, step, reason))


def apply_batch(ctx: PushContext, batch_id: int, concurrency: int) -> str:
    """Finish every open step of a batch; the batch's final status."""
    steps = [StepView.of(r) for r in unfinished_steps(ctx.engine, batch_id)]
    objects_in_a_row = 0
    for step in steps:
        if stop_requested():
            break  # the batch stays open; the next push finishes it
        if step.kind in HANDLERS:
            writes_before = ctx.remote.writes
            try:
                HANDLERS[step.kind](ctx, step)
            except (TransientError, PushAborted) as exc:
                failure = _record_failure(exc) if step.kind in QUARANTINABLE_KINDS else None
                objects_in_a_row += 1
                if failure is None or objects_in_a_row >= OBJECT_FAILURES_IN_A_ROW:
                    if isinstance(exc, PushAborted):
                        raise
                    raise PushAborted(f"{step.kind} {step.key}: {exc}") from exc
                _quarantine_object(ctx, step, failure)
                continue
            objects_in_a_row = 0
            if step.state == DONE and ctx.remote.writes > writes_before:
                ctx.tally.written += 1
    apply_customers(ctx, [s for s in steps if s.kind == "customer"], concurrency)
    return close_batch(ctx.engine, batch_id)
