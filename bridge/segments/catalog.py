"""`segbridge attributes`: the attribute catalog, printed from the loader's own table.

The merchant (and docs/segments.md) reads the same ``ATTRIBUTES`` the loader validates
against, so the list of what a condition can test cannot drift from what `check` accepts.
"""

from __future__ import annotations

import argparse
from typing import Any

from bridge.errors import EXIT_OK
from bridge.segments.attributes import (
    ATTRIBUTES,
    CUSTOM_ATTRIBUTE,
    KIND_OPERATORS,
    OPTION_HELP,
    UNAVAILABLE,
    AttributeSpec,
)

# What a value of each kind looks like, for the table's "type" column and its notes.
KIND_HELP: dict[str, str] = {
    "string": "text, compared without case",
    "number": "a number within ±10^12, at most 4 decimals",
    "count": "a whole number within 0…10^9",
    "days": "whole days within 0…10^9",
    "date": 'an ISO date, a UTC date-time, or an age such as "30d"',
    "datetime": 'an ISO date, a UTC date-time, or an age such as "30d"',
    "bool": "true or false",
    "gender": "male, female or not_specified",
    "segment": "a list of segment codes",
    "product": "true or false, with a product filter",
}


def catalog() -> list[dict[str, Any]]:
    """Every attribute a condition may test, as the rows `--json attributes` prints."""
    specs: list[AttributeSpec] = [*ATTRIBUTES.values(), CUSTOM_ATTRIBUTE]
    return [
        {
            "attribute": spec.name,
            "type": spec.kind,
            "operators": list(KIND_OPERATORS[spec.kind]),
            "options": list(spec.options),
            "example": spec.example,
            "description": spec.description,
        }
        for spec in specs
    ]


def cmd_attributes(ctx: Any, args: argparse.Namespace) -> int:
    """Print the catalog: a table for people, or with --json a list of objects."""
    rows = catalog()
    if ctx.json:
        ctx.emit_json(rows)
        return EXIT_OK
    from rich.table import Table

    table = Table(title="Attributes a condition can test")
    table.add_column("attribute", no_wrap=True)
    for col in ("type", "options", "meaning"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["attribute"],
            r["type"],
            ", ".join(r["options"]),
            _escape(r["description"]),
        )
    console = ctx.console()
    console.print(table)
    console.print("\nExamples (one condition each, as in a rules = [...] list):")
    for r in rows:
        console.print(_escape(r["example"]), soft_wrap=True)
    types = Table(title="Types: their values and operators")
    types.add_column("type", no_wrap=True)
    types.add_column("values")
    types.add_column("operators")
    for kind, text in KIND_HELP.items():
        types.add_row(kind, text, " ".join(KIND_OPERATORS[kind]))
    console.print(types)
    options = Table(title="Options (extra keys of a condition)")
    options.add_column("option")
    options.add_column("meaning")
    for name, text in OPTION_HELP.items():
        options.add_row(name, _escape(text))
    console.print(options)
    console.print(
        f"{' and '.join(UNAVAILABLE)} read segbridge's storefront module (docs/storefront.md): "
        'with module.use = "off", or no module found, check refuses them.',
        soft_wrap=True,
    )
    return EXIT_OK


def _escape(text: str) -> str:
    """Square brackets in examples are TOML lists, not rich markup."""
    from rich.markup import escape

    return escape(text)
