"""Shared fixtures. The store database is chosen by SEGBRIDGE_TEST_DB:
``sqlite`` (default), ``postgresql`` or ``mariadb`` — the services on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bridge.store.engine import make_engine

PG_ADMIN = os.environ.get("SEGBRIDGE_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MY_ADMIN = os.environ.get("SEGBRIDGE_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def test_db_kind() -> str:
    kind = os.environ.get("SEGBRIDGE_TEST_DB", "sqlite")
    if kind not in ("sqlite", "postgresql", "mariadb"):
        raise pytest.UsageError(f"SEGBRIDGE_TEST_DB={kind!r}: use sqlite, postgresql or mariadb")
    return kind


def _fresh_database(kind: str, tmp_path: Path) -> tuple[str, object]:
    """A new, empty database URL for one test, and a callable that drops it."""
    name = "sbt_" + uuid.uuid4().hex[:12]
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}", lambda: None
    admin_url = PG_ADMIN if kind == "postgresql" else MY_ADMIN
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if kind == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    if kind == "mariadb":
        url += "?charset=utf8mb4"

    def drop() -> None:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()

    return url, drop


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty store database of the kind under test (no schema yet)."""
    url, drop = _fresh_database(test_db_kind(), tmp_path)
    try:
        yield url
    finally:
        drop()  # type: ignore[operator]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh store database with the newest schema."""
    from bridge.store.engine import create_schema

    eng = make_engine(db_url)
    create_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def _admin_schema_path() -> Path:
    """Magento's official 2.4.6 REST schema from the shared docs beside the repository
    (``SEGBRIDGE_MAGENTO_SCHEMA`` names another copy)."""
    override = os.environ.get("SEGBRIDGE_MAGENTO_SCHEMA")
    if override:
        return Path(override)
    beside = Path(__file__).resolve().parents[2] / "shared/magento/admin-schema-2.4.6.json"
    return beside if beside.exists() else Path("/work/shared/magento/admin-schema-2.4.6.json")


@pytest.fixture(scope="session")
def admin_schema() -> dict:
    """The parsed schema. Missing: a failure in CI, a skip on a developer's machine."""
    import json

    path = _admin_schema_path()
    if not path.exists():
        message = f"Magento's admin schema is missing: {path} (set SEGBRIDGE_MAGENTO_SCHEMA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(path.read_text())
