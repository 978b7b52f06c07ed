"""Privacy tables (docs/privacy.md).

- ``privacy_kept``: which personal fields the store holds for every record of an entity
  (``customers`` or ``orders``) since its last full pull. With ``privacy.keep = "used"``
  the sync stores only the fields the active segments read; a segment that starts reading
  a field not listed here makes the next sync re-pull that entity, and ``evaluate``
  refuses that segment until then. ``field = "*"`` means every field (``keep = "all"``).
- ``privacy_forgotten``: SHA-256 digests of the id and e-mail of people erased by
  ``segbridge forget``, so a sync does not bring them back. Nothing else about them.
- ``privacy_sweeps``: each sweep of customer ids (which customers Magento no longer has):
  when, how many ids were seen, how many customers were erased, at what request cost.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store.models import Base


class PrivacyKept(Base):
    __tablename__ = "privacy_kept"
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    field: Mapped[str] = mapped_column(String(128), primary_key=True)
    kept_since: Mapped[datetime] = mapped_column(DateTime)


class PrivacyForgotten(Base):
    __tablename__ = "privacy_forgotten"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    kind: Mapped[str] = mapped_column(String(8))  # id | email
    forgotten_at: Mapped[datetime] = mapped_column(DateTime)


class PrivacySweep(Base):
    __tablename__ = "privacy_sweeps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    full: Mapped[bool] = mapped_column(Boolean, default=False)  # part of a full sync
    seen: Mapped[int] = mapped_column(Integer, default=0)  # customer ids Magento listed
    erased: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
