"""How a problem is worded: one line ``FILE: KEY.PATH: what is wrong``.

The collector of problems and warnings, values quoted as they read in TOML, "did you
mean" hints (with look-alike characters spelt out), unknown keys, file names as shown.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

from bridge.segments.loader.schema import MAX_SHOWN, TOP_KEYS

# The top-level keys that hold a value, not a table: one of these inside a table was most
# likely written below a [table] line, which in TOML puts it in that table.
TOP_VALUE_KEYS = tuple(k for k in TOP_KEYS if k not in (
    "conditions", "group", "cms_blocks", "cart_rules", "catalog_rules"))


@dataclass
class _Problems:
    file: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(
            f"{self.file}: {path}: {message}" if path else f"{self.file}: {message}"
        )

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{self.file}: {path}: {message}")


def _q(value: Any) -> str:
    """A value as it reads in TOML, for messages: one line, at most about MAX_SHOWN chars."""
    if isinstance(value, str):
        # control characters escaped, so each problem stays on one line
        text = "".join(
            "\\\\" if c == "\\" else c if c.isprintable() or c == " "
            else c.encode("unicode_escape").decode()
            for c in value[: MAX_SHOWN + 1]
        )
        if len(value) > MAX_SHOWN or len(text) > MAX_SHOWN:
            text = text[:MAX_SHOWN] + "…"
        return '"' + text.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10**MAX_SHOWN:
        return f"{'-' if value < 0 else ''}a number of {len(str(abs(value)))} digits"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, list):
        if len(value) <= 5 and all(isinstance(v, (str, int, float)) for v in value):
            text = "[" + ", ".join(_q(v) for v in value) + "]"
            return text if len(text) <= 2 * MAX_SHOWN else "a list"
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def did_you_mean(
    word: Any, candidates: Iterable[str], aliases: dict[str, str] | None = None
) -> str:
    """ ``; did you mean "x"?`` when one candidate is close to ``word`` (else "")."""
    if not isinstance(word, str) or not word or len(word) > 2 * MAX_SHOWN:
        return ""
    folded = word.strip().casefold()
    candidates = list(candidates)
    if aliases and folded in aliases:
        best = [aliases[folded]]
    else:
        by_fold = {c.casefold(): c for c in candidates}
        best = [by_fold[folded]] if folded in by_fold and by_fold[folded] != word else [
            by_fold[m] for m in difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.6)
        ]
    if not best or best[0] == word:
        return ""
    note = look_alike_note(word, best[0])
    return f'; did you mean "{best[0]}"?' + (f" ({note})" if note else "")


def escaped(text: str) -> str:
    """``text`` with every character outside printable ASCII written as ``\\uXXXX``, so a
    look-alike (a Cyrillic а, a zero-width space) reads differently from what it imitates."""
    return "".join(
        c if " " <= c <= "~" else f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
        for c in text
    )


def look_alike_note(word: str, suggestion: str, quote: str = '"') -> str:
    """For a "did you mean" line: ``"Gener\\u0430l" has \\u0430 CYRILLIC SMALL LETTER A``
    when either name has characters outside printable ASCII, which may print exactly like
    the other name's letters (or not at all); else ``""``."""
    notes = []
    for name in dict.fromkeys((word, suggestion)):
        odd = list(dict.fromkeys(c for c in name if not " " <= c <= "~"))
        if odd and len(name) <= 2 * MAX_SHOWN:
            chars = ", ".join(
                f"{escaped(c)} {unicodedata.name(c, 'an unnamed character')}" for c in odd[:3]
            ) + (", …" if len(odd) > 3 else "")
            notes.append(f"{quote}{escaped(name)}{quote} has {chars}")
    return "; ".join(notes)


def _unknown_keys(raw: dict[str, Any], known: Iterable[str], path: str, out: _Problems) -> None:
    known = tuple(known)
    for key in raw:
        if key not in known:
            where = f"{path}.{_key(key)}" if path else _key(key)
            hint = did_you_mean(key, known)
            if path and key in TOP_VALUE_KEYS:
                out.add(where, f"unknown key here: {key} is a top-level key, and in TOML a "
                        "key below a [table] line belongs to that table: write it before "
                        "the first [table] line of the file")
            elif hint:
                out.add(where, "unknown key" + hint)
            else:
                out.add(where, f"unknown key (known: {', '.join(known)})")


def _key(key: str) -> str:
    """A key as it reads in a path: bare when it can be, else quoted (one line)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _q(key)


@dataclass(frozen=True)
class _Err:
    message: str


def _display(path: Path, base: Path | None) -> str:
    """``path`` for a message, relative to the config's folder (or the working one) when
    inside it. The folder is resolved, the file name is kept as found: a link is named
    by itself, never by its target (Emacs' lock link .#vip.toml points at "user@host.pid")."""
    found = path.parent.resolve() / path.name if path.name not in ("", ".", "..") else (
        path.resolve()
    )
    for root in (base, Path.cwd()):
        if root is None:
            continue
        try:
            return str(found.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def _os_reason(exc: BaseException) -> str:
    """An OS error's reason without the path (the message names the file already)."""
    return getattr(exc, "strerror", None) or type(exc).__name__
