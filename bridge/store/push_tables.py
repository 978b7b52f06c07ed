"""The push's own tables: home groups, what segbridge created, and the write journal.

Why they exist (docs/push.md):

- ``push_customers`` remembers each customer's *home group* (the group a person gave
  them) and the last group segbridge wrote, which is how a hand-made move is told apart
  from segbridge's own (drift), and how a store that overrides a write is not fought.
- ``push_groups`` and ``push_objects`` are the binding tables between segbridge's names
  and Magento ids: segbridge only ever touches what it recorded here.
- ``push_batches`` / ``push_steps`` are the journal (an outbox): the plan is written
  first, and every write is marked once Magento confirmed it, so a killed push is
  finished by the next one without a write done twice or a duplicate create.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store.models import Base, CiString

# Journal step states.
PENDING = "pending"  # planned, not yet tried
SENT = "sent"  # a create was sent; its answer may be lost: look it up before retrying
DONE = "done"  # Magento confirmed it (or it was found already in place)
REFUSED = "refused"  # Magento refused it (a 4xx contract error): recorded, not retried
OVERRIDDEN = "overridden"  # the customer PUT's answer shows another group: reported
STALE = "stale"  # someone else changed the record since the plan: left alone
SKIPPED = "skipped"  # nothing to do any more (e.g. the group it needed is gone)

FINAL_STATES = (DONE, REFUSED, OVERRIDDEN, STALE, SKIPPED)
OPEN_STATES = (PENDING, SENT)

# Batch states.
BATCH_OPEN = "open"
BATCH_DONE = "done"
BATCH_PARTIAL = "partial"


class PushCustomer(Base):
    """One row per customer segbridge has seen at a push."""

    __tablename__ = "push_customers"
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    home_group_id: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    # the last group segbridge wrote for this customer (confirmed by Magento's answer)
    written_group_id: Mapped[int | None] = mapped_column(Integer, index=True)
    written_at: Mapped[datetime | None] = mapped_column(DateTime)
    # a target the store refused to keep (its answer showed another group): not retried
    overridden_target_id: Mapped[int | None] = mapped_column(Integer)
    overridden_at: Mapped[datetime | None] = mapped_column(DateTime)


class PushGroup(Base):
    """A customer group segbridge manages (named by a segment file), by code."""

    __tablename__ = "push_groups"
    code_ci: Mapped[str] = mapped_column(CiString(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[int] = mapped_column(Integer)
    created: Mapped[bool] = mapped_column(Boolean, default=False)  # segbridge created it
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class PushObject(Base):
    """A CMS block or cart price rule segbridge created (the only ones it touches)."""

    __tablename__ = "push_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # cms_block | cart_rule
    key: Mapped[str] = mapped_column(String(255))
    segment_code: Mapped[str] = mapped_column(String(64), index=True)
    magento_id: Mapped[int] = mapped_column(Integer)
    store_id: Mapped[int | None] = mapped_column(Integer)  # cms blocks: the store scope
    store_code: Mapped[str | None] = mapped_column(String(64))
    identifier: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # of the fields last written
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("kind", "key", name="uq_push_objects_kind_key"),)


class PushBatch(Base):
    """One recorded plan."""

    __tablename__ = "push_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default=BATCH_OPEN, index=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PushStep(Base):
    """One planned write of a batch."""

    __tablename__ = "push_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("push_batches.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(255))
    segment_code: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    magento_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_push_steps_batch_state", "batch_id", "state"),
        Index("ix_push_steps_batch_seq", "batch_id", "seq"),
    )
