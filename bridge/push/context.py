"""What every step handler shares: the store, Magento, the group list and the tally."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bridge.errors import SegbridgeError
from bridge.magento.errors import TransientError
from bridge.push.remote import Remote
from bridge.store.models import CustomerGroup, Quarantine
from bridge.store.push_tables import DONE, SENT, SKIPPED, PushGroup, PushObject, PushStep
from bridge.timeutil import utcnow

if TYPE_CHECKING:
    from bridge.push.bulk import ModuleChoice

log = logging.getLogger("bridge.push")

CREATE_ATTEMPTS = 3


class PushAborted(SegbridgeError):
    """Magento stopped answering (retries ran out): the journal keeps what is left."""


@dataclass
class StepView:
    """A journal step as a handler needs it (detached from any session)."""

    id: int
    batch_id: int
    kind: str
    key: str
    segment_code: str | None
    customer_id: int | None
    payload: dict[str, Any]
    state: str

    @classmethod
    def of(cls, row: Any) -> StepView:
        """From a ``PushStep`` or a row of its columns (``journal.unfinished_steps``)."""
        return cls(row.id, row.batch_id, row.kind, row.key, row.segment_code, row.customer_id,
                   dict(row.payload or {}), row.state)


@dataclass
class Tally:
    states: Counter[str] = field(default_factory=Counter)
    refused: list[dict[str, Any]] = field(default_factory=list)
    overridden: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    adopted: Counter[str] = field(default_factory=Counter)
    written: int = 0  # steps that wrote to Magento (not those found already as wanted)


@dataclass
class PushContext:
    engine: Engine
    remote: Remote
    tax_class_id: int
    groups: dict[str, tuple[int, str]]  # code.casefold() -> (id, code), live
    run_id: int | None = None
    tally: Tally = field(default_factory=Tally)
    # what this push does with the storefront module (bridge.push.bulk.choose_module);
    # None: not asked, customers are moved one GET and PUT each
    module: ModuleChoice | None = None
    _open_quarantine: set[tuple[str, str | None]] | None = field(default=None, repr=False)

    def group_id(self, code: str | None) -> int | None:
        if not code:
            return None
        found = self.groups.get(code.casefold())
        return found[0] if found else None

    def step_group(self, step: StepView) -> int | None:
        """The id of the group a block or rule step is for; None (and the step marked
        skipped) when that group does not exist (any more)."""
        code = step.payload.get("group_code")
        gid = self.group_id(code)
        if gid is None:
            self.mark(step, SKIPPED, message=f"group {code!r} does not exist")
        return gid

    # --- journal marks --------------------------------------------------------------
    def mark(
        self,
        step: StepView,
        state: str,
        *,
        magento_id: int | None = None,
        message: str | None = None,
        extra: Callable[[Session], None] | None = None,
    ) -> None:
        """Move a step to ``state`` (with any bookkeeping in the same transaction)."""
        with Session(self.engine) as s, s.begin():
            values: dict[str, Any] = {"state": state, "updated_at": utcnow()}
            if magento_id is not None:
                values["magento_id"] = magento_id
            if message is not None:
                values["message"] = message[:4000]
            s.execute(update(PushStep).where(PushStep.id == step.id).values(**values))
            if extra is not None:
                extra(s)
            if state == DONE:
                self.unquarantine(s, step)
        step.state = state
        if state != SENT:
            self.tally.states[state] += 1

    def quarantine(self, s: Session, step: StepView, reason: str) -> None:
        """List the step's record in the quarantine (``status`` shows it) until a later
        push gets it through; a record refused again keeps one open row, brought up to
        date, rather than one more each push."""
        entity, record = f"push:{step.kind}", step.key[:64]
        row = s.scalars(
            select(Quarantine).where(
                Quarantine.entity == entity, Quarantine.record_id == record,
                Quarantine.resolved_at.is_(None),
            ).order_by(Quarantine.id.desc())
        ).first()
        if self._open_quarantine is not None:
            self._open_quarantine.add((entity, record))
        if row is not None:
            row.run_id, row.reason, row.payload = self.run_id, reason, step.payload
            row.created_at = utcnow()
            return
        s.add(Quarantine(run_id=self.run_id, entity=entity, record_id=record, reason=reason,
                         payload=step.payload, created_at=utcnow()))

    def open_quarantine(self, s: Session) -> set[tuple[str, str | None]]:
        """(entity, record) of the open push quarantine rows, read once per push."""
        if self._open_quarantine is None:
            self._open_quarantine = set(s.execute(
                select(Quarantine.entity, Quarantine.record_id).where(
                    Quarantine.entity.like("push:%"), Quarantine.resolved_at.is_(None))
            ).tuples())
        return self._open_quarantine

    def unquarantine(self, s: Session, step: StepView, *, why: str | None = None) -> None:
        """The step's record got through (or, with ``why``, will never be tried again):
        its open quarantine row is resolved, ``why`` put in front of its reason. (The open
        push rows are read once, so the thousands of records that were never
        quarantined cost no statement.)"""
        entity, record = f"push:{step.kind}", step.key[:64]
        if (entity, record) not in self.open_quarantine(s):
            return
        self.open_quarantine(s).discard((entity, record))
        rows = s.scalars(select(Quarantine).where(
            Quarantine.entity == entity, Quarantine.record_id == record,
            Quarantine.resolved_at.is_(None)))
        for row in rows:
            row.resolved_at = utcnow()
            if why:
                row.reason = f"resolved: {why} (was: {row.reason})"

    def record_group(
        self, code: str, group_id: int, created: bool, tax_class_id: int | None = None
    ) -> Callable[[Session], None]:
        """Bind the code to its id, and put the group in the local group list at once
        (the sync would only at its next run; ``report`` and ``plan`` name groups by it)."""
        def do(s: Session) -> None:
            row = s.get(PushGroup, code.casefold())
            if row is None:
                s.add(PushGroup(code_ci=code.casefold(), code=code, group_id=group_id,
                                created=created, recorded_at=utcnow()))
            else:
                row.group_id = group_id
                row.code = code
            local = s.get(CustomerGroup, group_id)
            if local is None:
                s.add(CustomerGroup(id=group_id, code=code, code_ci=code.casefold(),
                                    tax_class_id=tax_class_id))
            else:
                local.code, local.code_ci = code, code.casefold()
                if tax_class_id is not None:
                    local.tax_class_id = tax_class_id

        return do

    def record_object(
        self,
        kind: str,
        key: str,
        segment_code: str,
        magento_id: int,
        *,
        active: bool,
        fingerprint: str | None,
        store_id: int | None = None,
        store_code: str | None = None,
        identifier: str | None = None,
    ) -> Callable[[Session], None]:
        def do(s: Session) -> None:
            row = s.scalars(
                select(PushObject).where(PushObject.kind == kind, PushObject.key == key)
            ).first()
            now = utcnow()
            if row is None:
                s.add(PushObject(kind=kind, key=key, segment_code=segment_code,
                                 magento_id=magento_id, store_id=store_id, store_code=store_code,
                                 identifier=identifier, active=active, fingerprint=fingerprint,
                                 created_at=now, updated_at=now))
            else:
                row.magento_id = magento_id
                row.active = active
                row.fingerprint = fingerprint
                row.updated_at = now
                if identifier is not None:
                    row.identifier = identifier
                if store_code is not None:
                    row.store_code = store_code
                    row.store_id = store_id

        return do

    def recorded_ids(self, kind: str, *, exclude_key: str) -> set[int]:
        """Magento ids of the objects of ``kind`` recorded under other keys."""
        with Session(self.engine) as s:
            return set(
                s.scalars(
                    select(PushObject.magento_id).where(
                        PushObject.kind == kind, PushObject.key != exclude_key
                    )
                )
            )

    # --- creates that are never repeated -------------------------------------------
    def create_once(
        self,
        step: StepView,
        lookup: Callable[[], dict[str, Any] | None],
        create: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """The object ``create`` makes, or the one ``lookup`` finds when an earlier
        create may have landed (a ``sent`` mark, or an answer lost on the way back).
        Returns (object, created_now)."""
        if step.state == SENT:
            found = lookup()
            if found is not None:
                return found, False
        last: Exception | None = None
        for _ in range(CREATE_ATTEMPTS):
            self.mark(step, SENT)
            try:
                return create(), True
            except TransientError as exc:
                if not exc.maybe_applied:
                    raise PushAborted(f"{step.kind} {step.key}: {exc}") from exc
                last = exc
                log.warning("%s %s: answer lost (%s); looking it up", step.kind, step.key, exc)
                found = lookup()
                if found is not None:
                    return found, False
        raise PushAborted(f"{step.kind} {step.key}: {last}")
