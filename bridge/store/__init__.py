"""The local store: models, engine, migrations."""
