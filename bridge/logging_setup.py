"""Log lines for people (``text``) or for log shippers (``json``, one object per line).

``[log] format`` picks one. Structured facts travel in ``extra={"fields": {...}}``: the
JSON formatter puts them at the top level of the object, the text formatter appends them
as ``key=value`` so that a person reading a terminal sees the same facts.

Verbosity (``level_for``): ``-q`` warnings only, default INFO, ``-v`` segbridge's own
steps (DEBUG), ``-vv`` also the HTTP traffic (``HTTP``: one line a request from the
client, and urllib3's connection lines). A URL in a log line is shortened: a search's
query string is some 3,000 characters of ``searchCriteria`` that would flood a screen.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any

FORMATS = ("text", "json")
HTTP = 5  # below DEBUG: the HTTP traffic, shown from -vv on
logging.addLevelName(HTTP, "HTTP")

URL_QUERY_KEEP = 60  # characters of a long query string a log line keeps
_LONG_QUERY = re.compile(r"\?([^\s\"']{" + str(URL_QUERY_KEEP + 20) + ",})")


def short_url(url: str) -> str:
    """``url`` with a long query string cut to its first characters and a count of the
    rest; the path (which names the route) is always whole."""
    return _LONG_QUERY.sub(_cut_query, url)


def shorten_urls(text: str) -> str:
    """Every long query string in ``text`` cut as ``short_url`` does."""
    return _LONG_QUERY.sub(_cut_query, text) if "?" in text else text


def _cut_query(m: re.Match[str]) -> str:
    query = m.group(1)
    return f"?{query[:URL_QUERY_KEEP]}…(+{len(query) - URL_QUERY_KEEP} chars)"


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    value = getattr(record, "fields", None)
    return dict(value) if isinstance(value, dict) else {}


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(_plain(v) for v in value)
    text = str(value)
    return json.dumps(text) if (" " in text or text == "") else text


class TextFormatter(logging.Formatter):
    """``2026-11-22T07:10:03.120Z INFO bridge.scheduler: run finished status=ok joined=3``"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_ts(record)} {record.levelname} {record.name}: "
        line += shorten_urls(record.getMessage())
        extra = _fields(record)
        if extra:
            line += " " + " ".join(f"{k}={_plain(v)}" for k, v in extra.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": _ts(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": shorten_urls(record.getMessage()),
        }
        for key, value in _fields(record).items():
            obj.setdefault(key, value)
        if record.exc_info:
            obj["exc"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))


def level_for(verbosity: int) -> int:
    """``-vv`` (verbosity > 1) HTTP, ``-v`` DEBUG, ``-q`` (< 0) WARNING, else INFO."""
    if verbosity > 1:
        return HTTP
    if verbosity == 1:
        return logging.DEBUG
    return logging.WARNING if verbosity < 0 else logging.INFO


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record, not at setup
    (a command run in-process under a test harness that swaps stderr keeps working)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def setup_logging(
    fmt: str = "text", level: int = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Route every log record to ``stream`` (default: stderr) in ``fmt``.

    Replaces the handler an earlier call installed (the CLI calls this once with
    ``text`` before the config is read, then again with ``[log] format``); handlers
    that others added to the root logger (a test harness's) are left alone.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    handler: logging.Handler = logging.StreamHandler(stream) if stream else _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._segbridge = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_segbridge", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler's own chatter ("Running job ...", "Job executed successfully") at INFO
    # would double every summary line: keep its warnings and errors only.
    # Alembic narrates every upgrade step at INFO; only its problems belong in a daemon log.
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # requests-oauthlib and oauthlib log every signed request's headers at DEBUG (the
    # access token among them): never shown, whatever the verbosity.
    for chatty in ("oauthlib", "requests_oauthlib"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # urllib3 logs each connection and request at DEBUG: that is HTTP traffic (-vv).
    logging.getLogger("urllib3").setLevel(logging.DEBUG if level <= HTTP else logging.WARNING)
    return handler
