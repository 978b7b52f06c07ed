"""The push journal: a plan is written to the store before anything is sent.

A batch holds one plan as ordered steps. A step moves ``pending`` → (``sent``, for
creates) → a final state. ``sent`` is committed *before* a create request leaves, so a
process killed while the answer is on its way leaves a mark that says "look it up
before you create it again". Customer steps need no ``sent`` mark: the fresh GET that
starts every customer write shows whether the previous attempt landed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bridge.push.plan import Plan
from bridge.store.push_tables import (
    BATCH_DONE,
    BATCH_OPEN,
    BATCH_PARTIAL,
    FINAL_STATES,
    OPEN_STATES,
    PENDING,
    REFUSED,
    PushBatch,
    PushCustomer,
    PushObject,
    PushStep,
)
from bridge.timeutil import utcnow

# Order of the kinds inside a batch: groups first (every other step needs their ids),
# then what a removed segment used to manage, then blocks and rules, then customers.
KIND_ORDER = {"group": 0, "deactivate": 1, "cms_block": 2, "cart_rule": 3, "customer": 4}


def plan_steps(plan: Plan) -> list[dict[str, Any]]:
    """The plan as journal rows (without batch id), in the order they are applied."""
    rows: list[dict[str, Any]] = []
    for g in plan.group_creates:
        rows.append({"kind": "group", "key": g.code.casefold(), "payload": {"code": g.code}})
    for o in sorted(plan.objects, key=lambda o: (o.action != "deactivate", o.kind, o.key)):
        rows.append(
            {
                "kind": o.kind,
                "key": o.key,
                "segment_code": o.segment_code,
                "payload": {
                    "action": o.action,
                    "group_code": o.group_code,
                    "magento_id": o.magento_id,
                    "desired": dict(o.desired),
                },
            }
        )
    for c in plan.changes:
        rows.append(
            {
                "kind": "customer",
                "key": str(c.customer_id),
                "customer_id": c.customer_id,
                "segment_code": c.segment,
                "payload": {
                    "from": c.from_group_id,
                    "to_code": c.to_group_code,
                    "to_id": c.to_group_id,
                },
            }
        )
    for i, row in enumerate(rows):
        row["seq"] = i
    return rows


def record_plan(
    engine: Engine, plan: Plan, *, run_id: int | None = None, forced: bool = False
) -> int | None:
    """Write the plan (its home-group bookkeeping and the objects it adopted) in one
    transaction; its batch id.

    A plan with no writes records only that bookkeeping and returns None.
    """
    now = utcnow()
    with Session(engine) as s, s.begin():
        _record_homes(s, plan, now)
        _record_adopted(s, plan, now)
        rows = plan_steps(plan)
        if not rows:
            return None
        counts = dict(Counter(r["kind"] for r in rows))
        batch = PushBatch(
            run_id=run_id, created_at=now, status=BATCH_OPEN, forced=forced, counts=counts
        )
        s.add(batch)
        s.flush()
        batch_id = batch.id
        step_table = PushStep.__table__
        chunk = 2000
        for i in range(0, len(rows), chunk):
            s.execute(
                step_table.insert(),
                [
                    {
                        "batch_id": batch_id,
                        "seq": r["seq"],
                        "kind": r["kind"],
                        "key": r["key"],
                        "segment_code": r.get("segment_code"),
                        "customer_id": r.get("customer_id"),
                        "payload": r["payload"],
                        "state": PENDING,
                        "updated_at": now,
                    }
                    for r in rows[i : i + chunk]
                ],
            )
        return batch_id


def _record_homes(s: Session, plan: Plan, now: Any) -> None:
    new = [h for h in plan.home_updates if h.new]
    moved = [h for h in plan.home_updates if not h.new]
    table = PushCustomer.__table__
    for i in range(0, len(new), 2000):
        s.execute(
            table.insert(),
            [
                {"customer_id": h.customer_id, "home_group_id": h.home_group_id,
                 "first_seen_at": now}
                for h in new[i : i + 2000]
            ],
        )
    for h in moved:
        s.execute(
            update(PushCustomer)
            .where(PushCustomer.customer_id == h.customer_id)
            .values(home_group_id=h.home_group_id)
        )
    for m in plan.home_marks:  # after the inserts: a mark may be for a customer new here
        s.execute(
            update(PushCustomer)
            .where(PushCustomer.customer_id == m.customer_id)
            .values(
                written_group_id=m.written_group_id,
                written_at=now if m.written_group_id is not None else None,
                overridden_target_id=m.overridden_target_id,
                overridden_at=now if m.overridden_target_id is not None else None,
            )
        )


def _record_adopted(s: Session, plan: Plan, now: Any) -> None:
    """Blocks and rules found in Magento with no record here (a lost store): from now on
    they are segbridge's, as if it had created them (docs/push.md)."""
    for o in plan.adopted:
        row = s.scalars(
            select(PushObject).where(PushObject.kind == o.kind, PushObject.key == o.key)
        ).first()
        if row is not None:
            continue
        s.add(PushObject(kind=o.kind, key=o.key, segment_code=o.segment_code,
                         magento_id=o.magento_id, store_id=o.store_id, store_code=o.store_code,
                         identifier=o.identifier, active=o.active, fingerprint=o.fingerprint,
                         created_at=now, updated_at=now))


def open_batches(engine: Engine) -> list[int]:
    """Batches a previous push did not finish, oldest first."""
    with Session(engine) as s:
        return list(
            s.scalars(
                select(PushBatch.id)
                .where(PushBatch.status == BATCH_OPEN)
                .order_by(PushBatch.id)
            )
        )


def unfinished_steps(engine: Engine, batch_id: int) -> list[Any]:
    """The open steps of a batch in order, as rows with the step's columns as attributes
    (plain rows, not ORM objects: a first push of a big segment has tens of thousands)."""
    cols = [PushStep.id, PushStep.batch_id, PushStep.kind, PushStep.key,
            PushStep.segment_code, PushStep.customer_id, PushStep.payload, PushStep.state]
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(*cols)
                .where(PushStep.batch_id == batch_id, PushStep.state.in_(OPEN_STATES))
                .order_by(PushStep.seq)
            )
        )


def close_batch(engine: Engine, batch_id: int) -> str:
    """Mark a batch finished once no step is open; ``partial`` if any was refused."""
    with Session(engine) as s, s.begin():
        states = Counter(
            s.scalars(select(PushStep.state).where(PushStep.batch_id == batch_id))
        )
        if any(states.get(st, 0) for st in OPEN_STATES):
            return BATCH_OPEN
        status = BATCH_PARTIAL if states.get(REFUSED) else BATCH_DONE
        s.execute(
            update(PushBatch)
            .where(PushBatch.id == batch_id)
            .values(status=status, finished_at=utcnow(), counts=dict(states))
        )
        return status


def step_counts(engine: Engine, batch_ids: list[int]) -> Counter[str]:
    if not batch_ids:
        return Counter()
    with Session(engine) as s:
        return Counter(
            s.scalars(select(PushStep.state).where(PushStep.batch_id.in_(batch_ids)))
        )


def refused_steps(engine: Engine, batch_ids: list[int]) -> list[dict[str, Any]]:
    if not batch_ids:
        return []
    with Session(engine) as s:
        rows = s.scalars(
            select(PushStep).where(PushStep.batch_id.in_(batch_ids), PushStep.state == REFUSED)
        )
        return [
            {"kind": r.kind, "key": r.key, "customer_id": r.customer_id, "message": r.message}
            for r in rows
        ]


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)


__all__ = [
    "FINAL_STATES",
    "KIND_ORDER",
    "close_batch",
    "open_batches",
    "plan_steps",
    "record_plan",
    "refused_steps",
    "step_counts",
    "unfinished_steps",
]
