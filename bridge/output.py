"""Shop data on a person's screen and in exported files is data, never markup.

A customer's name, an email, a group code or a quarantine reason come from the shop,
which anyone can write to (a registration form is enough). On a terminal, an escape
sequence in such a value could move the cursor, rewrite earlier lines or set the
window title; in a spreadsheet, a CSV cell that starts with ``=`` is run as a
formula. So text output shows control characters escaped (``\\x1b``), tables take
values as plain text (never as Rich markup), and CSV cells that a spreadsheet would
read as a formula get a leading ``'``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

# C0 and C1 controls, DEL, and the Unicode marks that reorder or hide text on screen
# (bidirectional overrides and isolates, zero-width and line/paragraph separators).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: Any) -> str:
    """``value`` as one line of plain text for a terminal: control characters (tabs
    and newlines too) and invisible reordering marks shown escaped, ``None`` as ``-``,
    a time as ``YYYY-MM-DD HH:MM:SS``."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape_one, text)


def safe_lines(text: str) -> list[str]:
    """A message of several lines, each made safe (the line breaks are kept)."""
    return [safe(line) for line in str(text).split("\n")]


def cell(value: Any, empty: str = "-") -> Any:
    """A Rich table cell holding ``value`` as plain text: made safe, never read as
    markup (a ``[bold]`` or ``[link=…]`` in shop data stays as typed)."""
    from rich.text import Text

    if value is None or value == "":
        return Text(empty)
    return Text(safe(value))


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a
    leading ``'``; numbers stay numbers (a negative amount is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value

