"""Segments: rules from mappings/*.toml, evaluated inside the store database."""
