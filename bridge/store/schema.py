"""The complete metadata of the store: every tables module, imported for its side effect.

Alembic (``migrations/env.py``) and the migration test compare against
``metadata`` from here, so a tables module that is not imported here would look
like tables to drop. Modules written by other parts of segbridge are imported when
they exist, so this file does not need to change as they land.
"""

from __future__ import annotations

import importlib
import importlib.util

from sqlalchemy import MetaData

from bridge.store import models

TABLE_MODULES = (
    "bridge.store.segment_tables",
    "bridge.store.push_tables",
    "bridge.store.lock_tables",
    "bridge.store.privacy_tables",
)


def _import_table_modules() -> None:
    for name in TABLE_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


_import_table_modules()

metadata: MetaData = models.Base.metadata
