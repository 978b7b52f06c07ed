"""Engines for the store: SQLite (WAL), PostgreSQL, MariaDB — one code path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with each dialect's settings for a concurrent writer."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        return engine
    if url.startswith(("mysql", "mariadb")):
        kwargs.setdefault("pool_recycle", 3600)
        return create_engine(url, pool_pre_ping=True, **kwargs)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest version (replaced by Alembic's upgrade)."""
    from bridge.store.models import Base

    Base.metadata.create_all(engine)


def open_store(url: str, **kwargs: Any) -> Engine:
    """The store at ``url``, its schema brought up to date (older databases upgraded)."""
    engine = make_engine(url, **kwargs)
    create_schema(engine)
    return engine
