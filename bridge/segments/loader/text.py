"""Checks on the text a merchant writes that Magento shows: length (the store's and
Magento's columns), personal data (an email address or phone number in a name),
characters shown as nothing or as a plain space, and NUL anywhere in the file.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from bridge.segments.loader.messages import _key, _Problems, _q, escaped
from bridge.segments.loader.schema import MAX_DEPTH, MAX_LIST


def _no_nul(data: dict[str, Any], out: _Problems) -> None:
    """A NUL character in any text of the file is an error: PostgreSQL cannot hold or
    compare it, so the same file would match differently (or fail) per database, and
    Magento would cut names there. Iterative and depth-bounded, like _count_leaves."""
    stack: list[tuple[str, Any, int]] = [(_key(k), v, 1) for k, v in data.items()]
    while stack:
        path, node, depth = stack.pop()
        if isinstance(node, str):
            if "\0" in node:
                out.add(path, "contains a NUL character (\\x00), which no text may hold")
        elif depth <= 2 * MAX_DEPTH + 4 and isinstance(node, dict):
            stack.extend((f"{path}.{_key(k)}", v, depth + 1) for k, v in node.items())
        elif depth <= 2 * MAX_DEPTH + 4 and isinstance(node, list):
            if len(node) <= MAX_LIST:
                stack.extend((f"{path}[{i}]", v, depth + 1) for i, v in enumerate(node))


# An email address: text@host, with or without a dot in the host (x@localhost).
EMAIL_RE = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\W_][^\s@<>()\[\],;:\"']*")
# 7+ digits, maybe with one separator between them (a space, a dash, an underscore, a
# dot or a slash, or a dash between two spaces), maybe a leading + or parenthesised area
# code: +46 70-123 45 67, (040) 123 456, 070 - 123 4567, 0701234567. Matched after
# _as_read, so any kind of dash or space (en dash, no-break space) counts.
PHONE_RE = re.compile(r"\+?\(?\d(?:\)?(?:[ _./-]| - )?\(?\d){6,}")
ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")


def _max_length(text: Any, key: str, limit: int, out: _Problems) -> None:
    """Longer text than the store's column (or Magento's) would be cut or refused."""
    if isinstance(text, str) and len(text) > limit:
        out.add(key, f"is longer than {limit} characters ({len(text)})")


def _as_read(text: str) -> str:
    """``text`` as a reader sees it: compatibility forms folded (NFKC: full-width ＠ is @,
    ０ is 0), invisible format characters (Cf: zero-width space, direction marks)
    dropped, every dash (Pd: en dash, em dash; and the minus sign) a "-" and every space
    (Zs: no-break, thin) a plain space."""
    folded = []
    for c in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(c)
        if category == "Pd" or c == "\u2212":
            folded.append("-")
        elif category == "Zs":
            folded.append(" ")
        elif category != "Cf":
            folded.append(c)
    return "".join(folded)


def _no_personal_data(text: Any, key: str, out: _Problems) -> None:
    """Codes, names, descriptions, group codes, slots and rule names show in Magento's
    admin and on pages: an email address or a phone number there is personal data
    published. The message does not repeat it."""
    if not isinstance(text, str):
        return
    text = _as_read(text)
    what = None
    if EMAIL_RE.search(text):
        what = "an email address"
    elif PHONE_RE.search(ISO_DATE_RE.sub(" ", text)):
        what = "a phone-like number (7 or more digits)"
    if what:
        out.add(
            key,
            f"contains {what}; it shows in Magento's admin and pages, so personal data "
            "does not belong here",
        )


# Characters Magento's admin grid and pages show as nothing, as a plain space or as a
# line break: control (Cc), format (Cf: zero-width space, right-to-left override), line
# and paragraph separators (Zl, Zp) and spaces other than U+0020 (Zs).
_INVISIBLE = ("Cc", "Cf", "Zl", "Zp", "Zs")


def _invisible_characters(text: Any, key: str, what: str, out: _Problems) -> bool:
    """Refuse a code or name that would read like another one in Magento: leading or
    trailing white space, or a character shown as nothing or as a plain space
    ("Retailer " and "Retailer\\u200b" both show as the merchant's "Retailer").
    True when a problem was reported."""
    if not isinstance(text, str) or not text:
        return False
    if text != text.strip():
        out.add(
            key,
            f"{_q(text)} begins or ends with white space, which Magento's admin does not "
            f"show: it would read like {what} {_q(text.strip())}",
        )
        return True
    odd = [
        (i, c) for i, c in enumerate(text, 1)
        if c != " " and unicodedata.category(c) in _INVISIBLE
    ]
    if odd:
        i, c = odd[0]
        visible = "".join(_as_shown(ch) for ch in text)
        out.add(
            key,
            f"{_q(text)} contains {escaped(c)} {unicodedata.name(c, 'a control character')} "
            f"at position {i}, which Magento's admin shows as nothing or as a plain space: "
            f"it would read like {what} {_q(visible)}",
        )
        return True
    return False


def _as_shown(c: str) -> str:
    """One character as Magento's admin shows it: a control or format character as
    nothing, any other space or separator as a plain space."""
    category = unicodedata.category(c)
    if c == " " or category not in _INVISIBLE:
        return c
    return "" if category in ("Cc", "Cf") else " "
