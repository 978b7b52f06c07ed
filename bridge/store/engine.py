"""Engines for the store: SQLite (WAL), PostgreSQL, MariaDB — one code path.

``open_store(url)`` is how every command gets the store: it runs Alembic's
``upgrade head`` in code (no alembic.ini; the scripts ship inside the package), so a
database made by an older segbridge is brought up to date the first time a newer one
opens it, and a new database gets the whole schema.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import ConfigError, StoreUnavailable

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
        create_private_file(sqlite_path(url))
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


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite://`` URL (None: in memory)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_private_file(path: Path | None) -> None:
    """Create a new SQLite store file readable by its owner only (0600): it holds
    personal data. SQLite gives the -wal and -shm files the mode of the database file,
    so they are 0600 too. An existing file is left as it is."""
    if path is None or path.exists():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return
    except OSError:  # a missing folder: SQLite's own error names it
        return
    os.close(fd)
    os.chmod(path, 0o600)  # whatever the umask


def describe_store(url: str) -> str:
    """The store for messages: its URL without the password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is shown as typed
        return url.split("@")[-1]


def cause_of(exc: BaseException) -> str:
    """The first line of a driver's error, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None) or exc
    text_ = str(orig).strip().splitlines()
    return text_[0] if text_ else exc.__class__.__name__


def _sqlite_readonly_engine(url: str, path: Path) -> Engine:
    """An engine that opens ``path`` with SQLite's ``mode=ro``: nothing can be written,
    whatever the file's permissions. A WAL store in a folder this user cannot write
    (no -shm file can be made) is opened ``immutable`` instead: it is then read as a
    plain file, which is right since nobody can be writing it either."""
    bind_none_directly()
    base = "file:" + quote(str(path.resolve()))
    try:
        probe = sqlite3.connect(base + "?mode=ro", uri=True, timeout=60)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            suffix = "?mode=ro"
        finally:
            probe.close()
    except sqlite3.OperationalError:
        suffix = "?mode=ro&immutable=1"
    target = base + suffix

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(target, uri=True, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA query_only=ON")
        return conn

    return create_engine("sqlite://", creator=connect)


def open_store_readonly(url: str) -> Engine:
    """The store at ``url`` for a command that only reads it (``segments``, ``members``,
    ``explain``, ``history``, ``status``, ``report``, ``plan``).

    Nothing is created or migrated: a missing SQLite file stays missing, a store whose
    schema is older than this segbridge is named as such, and a store that cannot be
    reached is named with the cause — each as ``StoreUnavailable``, one line, exit 1.
    A SQLite file is opened read-only, so a read-only file or folder works; on
    PostgreSQL and MariaDB a user with SELECT rights is enough.
    """
    shown = describe_store(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is None:
            raise StoreUnavailable(f"store {shown}: an in-memory store holds nothing to read")
        if not path.is_file():
            raise StoreUnavailable(
                f"store {shown} (store.url): no such file; run `segbridge sync` to make it"
            )
        engine = _sqlite_readonly_engine(url, path)
    else:
        engine = make_engine(url)
    try:
        refuse_unsupported_server(engine)
        revision = current_revision(engine)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        engine.dispose()
        raise StoreUnavailable(
            f"store {shown} (store.url): cannot be opened: {cause_of(exc)}"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    head = head_revision()
    if revision != head:
        engine.dispose()
        if revision is None:
            raise StoreUnavailable(
                f"store {shown} (store.url): not a segbridge store yet (no schema); "
                "run `segbridge sync` to make it"
            )
        if _is_known_revision(revision):
            raise StoreUnavailable(
                f"store {shown} (store.url): its schema (revision {revision}) is older than "
                f"this segbridge's ({head}); this command only reads and does not upgrade "
                "it: run `segbridge sync` with a user that may change the schema"
            )
        raise StoreUnavailable(
            f"store {shown} (store.url): its schema (revision {revision}) is newer than "
            "this segbridge knows; upgrade segbridge"
        )
    return engine


def _is_known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - an unknown id raises in Alembic
        return False


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
    revision = current_revision(engine)
    if revision == head_revision():
        return
    if revision is not None and not _is_known_revision(revision):
        # a newer segbridge wrote this store: its migrations are not ours to guess at
        # (Alembic would stop with "Can't locate revision"); nothing is changed
        from sqlalchemy.engine import make_url

        shown = make_url(str(engine.url)).render_as_string(hide_password=True)
        raise StoreUnavailable(
            f"store {shown} (store.url): its schema (revision {revision}) is newer than "
            f"this segbridge knows ({head_revision()}); upgrade segbridge, or see "
            "docs/operations.md on rolling back"
        )
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
