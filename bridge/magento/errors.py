"""Magento's error answers as typed exceptions.

Magento keeps the raw phrase (``%1``/``%name`` placeholders) and its ``parameters``
apart (docs/magento.md S5, H1/H2). We render the message for people, keep the
template as a stable key for classification, and pull out the Report ID of masked
500s so that an admin can find the entry in Magento's log. Nothing here ever holds
a request header, so no secret can leak through an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import EXIT_BAD_INPUT, SegbridgeError
from bridge.logging_setup import short_url

_PLACEHOLDER = re.compile(r"%(\w+)")
_REPORT_ID = re.compile(r"Report ID:\s*(webapi-[0-9A-Za-z._-]+)")
_REPORT_FILE = re.compile(r"report\s+(api/[0-9A-Za-z._-]+)")
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def render(template: str, parameters: Any) -> str:
    """Substitute ``%1..%n`` from a list and ``%name`` from a dict, as Magento's Phrase does.

    Unknown placeholders are left as they are (Magento does the same), so a
    message is never lost because a parameter is missing.
    """
    if not parameters:
        return template

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if isinstance(parameters, list | tuple):
            if key.isdigit() and 1 <= int(key) <= len(parameters):
                return str(parameters[int(key) - 1])
            return m.group(0)
        if isinstance(parameters, dict) and key in parameters:
            return str(parameters[key])
        return m.group(0)

    return _PLACEHOLDER.sub(sub, template)


@dataclass
class ErrorBody:
    """What Magento said, whatever the shape of its answer."""

    message: str  # rendered
    template: str  # raw phrase, placeholders intact
    parameters: Any = None
    errors: list[str] = field(default_factory=list)  # rendered sub-errors (aggregate exceptions)
    code: int | None = None
    trace: str | None = None
    report_id: str | None = None
    is_json: bool = True


def parse_error_body(text: str, content_type: str | None) -> ErrorBody:
    """Read both JSON error shapes, or summarise an HTML/text page.

    Shapes: ``{"message", "parameters", "errors", "code", "trace"}`` (ErrorProcessor)
    and ``{"messages": {"error": [{"code", "message"}]}}`` (PHP fatal handler).
    """
    data: Any = None
    if content_type is None or "json" in content_type.lower():
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        template = data["message"]
        params = data.get("parameters")
        message = render(template, params)
        subs = []
        for item in data.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                subs.append(render(item["message"], item.get("parameters")))
        code = data.get("code") if isinstance(data.get("code"), int) else None
        trace = data.get("trace") if isinstance(data.get("trace"), str) else None
        return ErrorBody(message, template, params, subs, code, trace, _report_id(message))
    if isinstance(data, dict) and isinstance(data.get("messages"), dict):
        errs = data["messages"].get("error") or []
        first = errs[0] if errs and isinstance(errs[0], dict) else {}
        message = str(first.get("message", "")) or "Server internal error"
        code = first.get("code") if isinstance(first.get("code"), int) else None
        return ErrorBody(message, message, None, [], code, None, _report_id(message))
    if data is not None:
        # JSON, but not an error shape we know: keep it short and readable.
        snippet = json.dumps(data)[:300]
        return ErrorBody(snippet, snippet, None, [], None, None, None)
    summary = _SPACE.sub(" ", _TAGS.sub(" ", text or "")).strip()[:300]
    return ErrorBody(summary, summary, None, [], None, None, _report_id(summary), is_json=False)


def _report_id(message: str) -> str | None:
    m = _REPORT_ID.search(message) or _REPORT_FILE.search(message)
    return m.group(1) if m else None


class MagentoError(SegbridgeError):
    """A failed Magento call. ``kind`` is a stable code (``THROTTLED``, ``ROUTE_MISSING``…).

    ``maybe_applied`` is True when a non-idempotent write failed after it may have
    reached Magento (timeout, dropped connection, 5xx): look before you retry it.
    """

    kind = "MAGENTO_ERROR"
    # True: no later request of this run can do better (the credentials were refused):
    # the whole command fails with this one message instead of every step repeating it.
    fatal = False

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        parameters: Any = None,
        status: int | None = None,
        report_id: str | None = None,
        errors: list[str] | None = None,
        trace: str | None = None,
        method: str | None = None,
        url: str | None = None,
        route: str | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = False,
        is_json: bool = True,
    ) -> None:
        self.message = message
        self.template = template if template is not None else message
        self.parameters = parameters
        self.status = status
        self.report_id = report_id
        self.errors = list(errors or [])
        self.trace = trace
        self.method = method
        self.url = url
        self.route = route
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied
        self.is_json = is_json
        super().__init__(self._describe())

    def _describe(self) -> str:
        url = short_url(self.url) if self.url else ""
        where = f"{self.method} {url}" if self.method and url else url
        parts = [f"Magento {self.kind}"]
        if where:
            parts.append(where)
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        text = ": ".join(parts) + f": {self.message}"
        if self.errors:
            text += " (" + "; ".join(self.errors) + ")"
        if self.report_id and self.report_id not in self.message:
            text += f" [Report ID: {self.report_id}]"
        return text


class ReadOnlyError(MagentoError):
    """A write was attempted by a read-only client (``plan``)."""

    kind = "READ_ONLY"


class RetryInterrupted(MagentoError):
    """A stop was requested (SIGTERM) while waiting to retry: nothing more was sent."""

    kind = "INTERRUPTED"


class InvalidRequestError(MagentoError):
    """Refused locally before sending: Magento would reject it (e.g. empty website_ids)."""

    kind = "INVALID_REQUEST"


class ContractError(MagentoError):
    """A 4xx answer Magento will give again: not retried (DLQ / report it)."""

    kind = "CONTRACT"


class NotFoundError(ContractError):
    """JSON 404 ``NoSuchEntity``: the record is gone (or never existed)."""

    kind = "NOT_FOUND"


class PageSizeLimitError(ContractError):
    """400 ``Maximum SearchCriteria pageSize is N``: input limits are on in this store."""

    kind = "PAGE_SIZE_LIMIT"

    @property
    def limit(self) -> int | None:
        m = re.search(r"pageSize is (\d+)", self.message)
        return int(m.group(1)) if m else None


class AuthError(MagentoError):
    """Credentials refused twice in a row, or bad credentials: fatal for the run."""

    kind = "AUTH_FAILED"


class CredentialsRefusedError(AuthError):
    """401 before the store ever accepted these credentials (token or OAuth): final at
    once. ``str()`` is the one line a person reads; the client sends nothing more."""

    kind = "CREDENTIALS_REFUSED"
    fatal = True

    def __init__(self, line: str, **kw: Any) -> None:
        self.line = line
        super().__init__(line, **kw)

    def _describe(self) -> str:
        return self.line


class AdminLoginError(AuthError):
    """The admin token route refused the username/password: fatal, never retried, and
    never tried again in the same run (Magento locks the account after a few)."""

    kind = "ADMIN_LOGIN_FAILED"
    fatal = True


class TwoFactorRequiredError(AuthError):
    """The admin token route is blocked by Magento_TwoFactorAuth: use an integration."""

    kind = "ADMIN_TOKEN_REQUIRES_2FA"
    exit_code = EXIT_BAD_INPUT
    fatal = True


class StoreUnreachableError(SegbridgeError):
    """The store could not be reached at all (connection refused, name not found, TLS
    handshake failed, no answer to connect) before it answered once in this run: the
    command fails at once (exit 1). Not a ``MagentoError``: no step catches it to go on.
    ``str()`` is one line naming ``magento.base_url`` and the cause."""

    kind = "UNREACHABLE"

    def __init__(self, base_url: str, cause: str) -> None:
        self.base_url = base_url
        self.cause = cause
        super().__init__(
            f"magento.base_url {base_url} cannot be reached: {cause}; check the address "
            "and that the store is up (see docs/config.md)")


class StoreUnresponsiveError(SegbridgeError):
    """The store answered earlier in this run, then let ``SILENT_LIMIT`` requests in a row
    (across every thread) go without any answer within ``magento.timeout_s``: it has
    stopped answering, and retrying each request of each entity would hold the run lock
    for the better part of an hour. The command fails (exit 1); the journal and the
    watermarks let the next run go on. Not a ``MagentoError``: no step catches it."""

    kind = "UNRESPONSIVE"

    def __init__(self, base_url: str, count: int, timeout_s: float) -> None:
        super().__init__(
            f"magento.base_url {base_url} stopped answering: {count} requests in a row got no "
            f"answer within magento.timeout_s = {timeout_s:g} s; nothing more is sent in this "
            "run (the next run goes on where this one stopped; see docs/operations.md)")


class RouteMissingError(MagentoError):
    """404 on a route Magento has: ``base_url`` or ``store_code`` is wrong."""

    kind = "ROUTE_MISSING"
    exit_code = EXIT_BAD_INPUT


class BlockedByEdgeError(MagentoError):
    """A CDN/WAF page (Cloudflare, Sucuri, Fastly) answered instead of Magento."""

    kind = "BLOCKED_BY_EDGE"


class TransientError(MagentoError):
    """Worth another try later; raised to the caller only when retries ran out."""

    kind = "TRANSIENT"


class ThrottledError(TransientError):
    kind = "THROTTLED"


class MaintenanceError(TransientError):
    """HTML 503: the store is in maintenance mode (or a proxy says so)."""

    kind = "MAINTENANCE"


class ServerError(TransientError):
    """500 (usually masked: "Internal Error … Report ID: webapi-…")."""

    kind = "SERVER_ERROR"


class GatewayError(TransientError):
    """502/503/504 or another 5xx from something in front of Magento."""

    kind = "GATEWAY"


class DeadlockError(TransientError):
    """MySQL "Deadlock found" / "Lock wait timeout": the transaction was rolled back."""

    kind = "DEADLOCK"


class ConnectionFailedError(TransientError):
    """Could not connect, or the connection dropped before an answer."""

    kind = "CONNECTION"


class RequestTimeoutError(TransientError):
    kind = "TIMEOUT"


class BadResponseError(TransientError):
    """A 2xx whose body is not JSON (a proxy page, a truncated answer)."""

    kind = "BAD_RESPONSE"
