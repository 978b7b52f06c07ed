"""Alembic environment: run with the connection that ``open_store`` hands over.

There is no alembic.ini: ``bridge.store.engine.alembic_config`` builds the config in
code and passes an open connection in ``config.attributes["connection"]``, so the
migrations work the same from an installed package, the CLI and the tests.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bridge.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # `alembic -x url=...` from a shell, for developers writing a migration.
    from bridge.store.engine import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the store URL: alembic -x url=sqlite:///segbridge.db ...")
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; give a URL")
run_migrations_online()
