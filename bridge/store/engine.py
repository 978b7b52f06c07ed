"""Engines for the store: SQLite (WAL), PostgreSQL, MariaDB — one code path.

``open_store(url)`` is how every command gets the store: it runs Alembic's
``upgrade head`` in code (no alembic.ini; the scripts ship inside the package), so a
database made by an older segbridge is brought up to date the first time a newer one
opens it, and a new database gets the whole schema.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect

from bridge.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def bind_none_directly() -> None:
    """Register an adapter for None with Python's sqlite3 module, which binds each None
    the same (NULL) in about a third of the time: the module binds an int, float or str
    as it is, but sends any other value, None too, through its adapter lookup, which
    for a type with no adapter ends in an AttributeError built (message and all) and
    dropped, for every NULL in every row. The rows of an order hold ten of them; in a
    sync worker they cost a fifth of its time in the store (callgrind: 22,000
    instructions an order). The registry is the module's, shared by every connection
    of the process; this adapter gives back the value it gets."""
    sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) is None, and in C


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with each dialect's settings for a concurrent writer."""
    if url.startswith("sqlite"):
        bind_none_directly()
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


def alembic_config() -> Any:
    """Alembic's config pointing at the migrations inside the installed package."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Keep Alembic from reconfiguring logging (there is no ini file to read).
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``engine`` in one transaction where the
    database allows it (PostgreSQL, SQLite); MariaDB commits each DDL statement."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not a segbridge store yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def refuse_unsupported_server(engine: Engine) -> None:
    """A ``mysql+…`` store must be MariaDB: the text columns that compare exactly use its
    ``utf8mb4_nopad_bin`` collation (binary, trailing spaces kept, as SQLite and
    PostgreSQL compare), which MySQL does not have — its migrations would stop at the
    first table with "Unknown collation". Said before anything is created."""
    if engine.dialect.name != "mysql":
        return
    with engine.connect():  # the first connection reads the server's version
        pass
    if not getattr(engine.dialect, "is_mariadb", False):
        version = ".".join(str(p) for p in engine.dialect.server_version_info or ())
        raise ConfigError([
            f"store.url: the server is MySQL {version}, which segbridge cannot use as its "
            "store (its text columns need MariaDB's utf8mb4_nopad_bin collation); use "
            "MariaDB 10.2 or newer, PostgreSQL or SQLite (the shop's own database may "
            "stay on MySQL: segbridge reads the shop over REST)"
        ])


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest version through the migrations.

    Two processes opening a brand-new store at once can race on the first CREATE
    TABLE; the loser retries once, by which time the winner has finished.
    """
    refuse_unsupported_server(engine)
    if current_revision(engine) == head_revision():
        return
    try:
        upgrade(engine)
    except Exception:
        if current_revision(engine) == head_revision():
            return
        names = set(inspect(engine).get_table_names())
        if "alembic_version" not in names:
            raise
        log.info("store schema: another process was upgrading; retrying once")
        upgrade(engine)


def open_store(url: str, **kwargs: Any) -> Engine:
    """The store at ``url``, its schema brought up to date (older databases upgraded)."""
    engine = make_engine(url, **kwargs)
    try:
        create_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return engine
