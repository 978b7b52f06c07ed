"""The run lock's lease table (SQLite and MariaDB; informational on PostgreSQL).

One row per lock name. A run owns the lock while ``expires_at`` is in the future and the
row carries its ``token``; a heartbeat pushes ``expires_at`` forward, so a crashed holder's
lease simply runs out and the next run takes it over. On PostgreSQL the lock itself is a
session advisory lock and this row only says who holds it (for ``segbridge status``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from bridge.store.models import Base


def LeaseTime() -> DateTime:  # noqa: N802 - reads as a type
    """Naive UTC with microseconds on every database (MariaDB's DATETIME drops them)."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class RunLockRow(Base):
    __tablename__ = "run_lock"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # a random id per acquisition: tells this holder apart from another thread or process
    token: Mapped[str] = mapped_column(String(36))
    holder: Mapped[str] = mapped_column(String(255))  # e.g. "segbridge run"
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(LeaseTime())
    heartbeat_at: Mapped[datetime] = mapped_column(LeaseTime())
    expires_at: Mapped[datetime] = mapped_column(LeaseTime())
