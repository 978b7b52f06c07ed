"""The store: migrations, upgrades of older databases, native upserts, folded twins."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from bridge.store.engine import current_revision, head_revision, make_engine, open_store, upgrade
from bridge.store.models import Customer, CustomerAttribute, Order, OrderItem, fold
from bridge.store.schema import metadata
from bridge.store.upsert import delete_children, upsert

pytestmark = pytest.mark.db


def _customer(cid: int, email: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": cid,
        "website_id": 1,
        "group_id": 1,
        "email": email,
        "email_ci": fold(email),
        "deleted": False,
    }
    row.update(kw)
    return row


def test_open_store_creates_every_table_at_head(db_url: str) -> None:
    engine = open_store(db_url)
    try:
        assert current_revision(engine) == head_revision()
        names = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= names
        assert "alembic_version" in names
        # opening again is a no-op
        engine2 = open_store(db_url)
        assert current_revision(engine2) == head_revision()
        engine2.dispose()
    finally:
        engine.dispose()


def test_a_mysql_server_is_refused_by_name_before_anything_is_created(db_url: str) -> None:
    """MySQL has no utf8mb4_nopad_bin: the store says so, naming store.url and the
    server, instead of failing half-way through the first migration. (The MariaDB
    server here stands in for a MySQL 8.0.36 the dialect took it for.)"""
    from bridge.errors import ConfigError
    from bridge.store.engine import create_schema

    if not db_url.startswith("mysql"):
        pytest.skip("a MySQL-family server only")
    engine = make_engine(db_url)
    try:
        with engine.connect():  # the dialect reads the server's version
            pass
        assert engine.dialect.is_mariadb  # type: ignore[attr-defined]
        engine.dialect.is_mariadb = False  # type: ignore[attr-defined]
        engine.dialect.server_version_info = (8, 0, 36)
        with pytest.raises(ConfigError) as err:
            create_schema(engine)
        assert err.value.exit_code == 2
        assert err.value.problems[0].startswith("store.url: the server is MySQL 8.0.36")
        assert "MariaDB" in err.value.problems[0]
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_store_made_by_first_version_is_upgraded_and_keeps_data(db_url: str) -> None:
    old = make_engine(db_url)
    upgrade(old, "0001")
    assert current_revision(old) == "0001"
    with old.begin() as conn:
        conn.execute(Customer.__table__.insert(), [_customer(7, "Old@Example.com")])
    old.dispose()

    engine = open_store(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(select(Customer.email_ci)).scalar_one() == "old@example.com"
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    """Autogenerate finds nothing to add, drop or alter: migrations == metadata."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_upsert_is_idempotent_and_updates(engine: Engine) -> None:
    table = Customer.__table__
    with engine.begin() as conn:
        upsert(conn, table, [_customer(1, "a@x.se"), _customer(2, "b@x.se")])
        upsert(conn, table, [_customer(1, "a@x.se"), _customer(2, "b@x.se")])
        upsert(conn, table, [_customer(2, "B2@x.se", firstname="Bo")])
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.email_ci, table.c.firstname)).all()
    assert sorted(rows) == [(1, "a@x.se", None), (2, "b2@x.se", "Bo")]


def test_sqlite_binds_none_as_null_through_the_registered_adapter(tmp_path: Path) -> None:
    """``engine.bind_none_directly``: None still reaches SQLite as NULL, not as a value,
    in a multi-row statement as the sync's upserts send them."""
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a, b)")
        conn.exec_driver_sql("INSERT INTO t VALUES (?, ?), (?, ?)", (None, 1, "x", None))
        rows = conn.exec_driver_sql(
            "SELECT typeof(a), typeof(b), b IS NULL FROM t ORDER BY rowid").all()
    assert rows == [("null", "integer", 0), ("text", "null", 1)]
    with engine.begin() as conn:
        upsert(conn, Customer.__table__, [_customer(1, "a@x.se", firstname=None)])
        got = conn.execute(select(Customer.__table__.c.firstname)).all()
    assert got == [(None,)]


def test_upsert_with_no_update_columns_keeps_existing_rows(engine: Engine) -> None:
    table = Customer.__table__
    with engine.begin() as conn:
        upsert(conn, table, [_customer(1, "a@x.se")])
        upsert(conn, table, [_customer(1, "changed@x.se"), _customer(3, "c@x.se")], update=[])
    with engine.connect() as conn:
        rows = dict(conn.execute(select(table.c.id, table.c.email)).all())
    assert rows == {1: "a@x.se", 3: "c@x.se"}


def test_upsert_of_tuples_sends_what_the_same_mappings_send(engine: Engine) -> None:
    """Rows as tuples of named columns (the sync's lean path), in another order than the
    table's and without ``deleted`` (its default fills it), bind the same statements as
    the same rows as mappings, and store the same."""
    from bridge.store.upsert import Recorder

    table = Order.__table__
    columns = ("customer_email", "id", "grand_total", "created_at", "customer_is_guest")
    rows = [("a@x.se", 1, Decimal("9.5000"), datetime(2026, 1, 2, 3, 4, 5), False),
            ("b@x.se", 2, None, None, True)]
    mappings = [dict(zip(columns, row, strict=True)) for row in rows]
    as_tuples, as_mappings = Recorder(engine.dialect), Recorder(engine.dialect)
    upsert(as_tuples, table, rows, columns=columns)  # type: ignore[arg-type]
    upsert(as_mappings, table, mappings)  # type: ignore[arg-type]
    assert as_tuples.statements == as_mappings.statements
    with engine.begin() as conn:
        upsert(conn, table, rows, columns=columns)
        got = conn.execute(select(table.c.id, table.c.customer_email, table.c.grand_total,
                                  table.c.deleted).order_by(table.c.id)).all()
    assert [tuple(r) for r in got] == [(1, "a@x.se", Decimal("9.5000"), False),
                                       (2, "b@x.se", None, False)]


def test_upsert_only_listed_columns(engine: Engine) -> None:
    table = Customer.__table__
    with engine.begin() as conn:
        upsert(conn, table, [_customer(1, "a@x.se", firstname="Ann")])
        upsert(conn, table, [_customer(1, "z@x.se", firstname="Zed")], update=["firstname"])
    with engine.connect() as conn:
        assert conn.execute(select(table.c.email, table.c.firstname)).one() == ("a@x.se", "Zed")


def test_upsert_composite_key_and_children_replaced(engine: Engine) -> None:
    with engine.begin() as conn:
        upsert(conn, Customer.__table__, [_customer(1, "a@x.se")])
        attrs = [
            {"customer_id": 1, "code": "loyalty", "value": "Gold", "value_ci": "gold"},
            {"customer_id": 1, "code": "tier", "value": "1", "value_ci": "1"},
        ]
        upsert(conn, CustomerAttribute.__table__, attrs)
        upsert(conn, CustomerAttribute.__table__, attrs[:1])
        order = {
            "id": 10, "customer_id": 1, "customer_is_guest": False, "deleted": False,
            "base_grand_total": Decimal("12.3456"), "created_at": datetime(2026, 1, 2, 3, 4, 5),
        }
        upsert(conn, Order.__table__, [order])
        items = [
            {"id": 100 + i, "order_id": 10, "sku": f"S{i}", "qty_ordered": Decimal(i)}
            for i in range(3)
        ]
        upsert(conn, OrderItem.__table__, items)
        delete_children(conn, OrderItem.__table__, "order_id", [10])
        upsert(conn, OrderItem.__table__, items[:1])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CustomerAttribute)).scalar() == 2
        assert conn.execute(select(OrderItem.id)).scalars().all() == [100]
        total = conn.execute(select(Order.base_grand_total)).scalar_one()
        assert Decimal(str(total)).quantize(Decimal("0.0001")) == Decimal("12.3456")
        # values bound by upsert compare equal to values bound by SQLAlchemy queries
        when = datetime(2026, 1, 2, 3, 4, 5)
        assert conn.execute(select(Order.id).where(Order.created_at == when)).scalar() == 10
        assert conn.execute(select(Order.id).where(Order.created_at >= when)).scalar() == 10
        assert conn.execute(select(Order.created_at)).scalar_one() == when
        assert conn.execute(select(Order.id).where(Order.customer_is_guest.is_(False))
                            ).scalar() == 10


def test_folded_twins_compare_case_insensitively_but_keep_accents(engine: Engine) -> None:
    """docs/segments.md: Unicode case folding, accents kept, same result on every database."""
    with engine.begin() as conn:
        upsert(
            conn,
            Customer.__table__,
            [
                _customer(1, "STRASSE@x.de", lastname="Straße", lastname_ci=fold("Straße")),
                _customer(2, "ake@x.se", lastname="Åke", lastname_ci=fold("Åke")),
                _customer(3, "ake2@x.se", lastname="Ake", lastname_ci=fold("Ake")),
            ],
        )
    with engine.connect() as conn:
        ids = conn.execute(
            select(Customer.id).where(Customer.lastname_ci == fold("STRASSE"))
        ).scalars().all()
        assert ids == [1]
        ids = conn.execute(
            select(Customer.id).where(Customer.lastname_ci == fold("åKE"))
        ).scalars().all()
        assert ids == [2]
        if engine.dialect.name == "sqlite":
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
            assert mode == "wal"


def test_folded_twins_count_trailing_spaces_on_every_database(engine: Engine) -> None:
    """The contract: the same answer on every database. MariaDB's PAD SPACE collations (e.g.
    utf8mb4_bin) would make 'ann ' = 'ann' true there only; the twins are NO PAD."""
    with engine.begin() as conn:
        upsert(
            conn,
            Customer.__table__,
            [
                _customer(1, "a@x.se", firstname="Ann ", firstname_ci=fold("Ann ")),
                _customer(2, "b@x.se", firstname="Ann", firstname_ci=fold("Ann")),
            ],
        )
        upsert(
            conn,
            CustomerAttribute.__table__,
            [
                {"customer_id": 1, "code": "tier", "value": "Gold ", "value_ci": fold("Gold ")},
                {"customer_id": 2, "code": "tier", "value": "Gold", "value_ci": fold("Gold")},
            ],
        )
    with engine.connect() as conn:
        by_param = conn.execute(select(Customer.id).where(Customer.firstname_ci == "ann")).all()
        spaced = conn.execute(select(Customer.id).where(Customer.firstname_ci == "ann ")).all()
        attr = conn.execute(
            select(CustomerAttribute.customer_id).where(CustomerAttribute.value_ci == "gold")
        ).all()
        c1, c2 = Customer.__table__.alias(), Customer.__table__.alias()
        same = c1.c.firstname_ci == c2.c.firstname_ci
        pairs = conn.execute(select(c1.c.id, c2.c.id).where(same, c1.c.id < c2.c.id)).all()
    assert by_param == [(2,)]
    assert spaced == [(1,)]
    assert attr == [(2,)]
    assert pairs == []


def test_a_new_sqlite_store_and_its_wal_files_are_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    """It holds personal data (docs/privacy.md): 0600 whatever the umask, -wal and -shm alike; an
    existing file keeps the mode its owner gave it."""
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            with engine.begin() as conn:  # a write while open: the -wal and -shm exist
                conn.execute(text("CREATE TABLE t (x INTEGER)"))
                conn.execute(text("INSERT INTO t VALUES (1)"))
                modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        finally:
            engine.dispose()
        assert modes == {"store.db": 0o600, "store.db-wal": 0o600, "store.db-shm": 0o600}
        kept = tmp_path / "kept.db"
        kept.touch(mode=0o640)
        kept.chmod(0o640)
        open_store(f"sqlite:///{kept}").dispose()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)


@pytest.mark.db
def test_a_store_from_a_newer_segbridge_is_refused_in_one_line_and_left_alone(
    db_url: str,
) -> None:
    """An older segbridge opening a store a newer one migrated: one line naming the store
    and both revisions (exit 1), nothing changed — not Alembic's "Can't locate revision"."""
    from bridge.errors import StoreUnavailable

    engine = open_store(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StoreUnavailable) as info:
        open_store(db_url)
    message = str(info.value)
    assert "revision 0099" in message and "newer than this segbridge" in message
    assert "\n" not in message and info.value.exit_code == 1
    check = make_engine(db_url)
    try:
        assert current_revision(check) == "0099"
    finally:
        check.dispose()
