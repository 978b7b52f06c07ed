"""What each Magento answer means, and whether and how long to wait before trying again.

Two tables (docs/magento.md H4): ``CLASSIFICATION`` turns an HTTP answer into a typed error,
``RETRY_TABLE`` says which kinds are retried, how often and with which wait. The
retrying itself is tenacity. Waits come from ``RetryPolicy`` so tests run with tiny
values and the daemon with polite ones.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception

from bridge.magento.errors import (
    AuthError,
    BadResponseError,
    BlockedByEdgeError,
    ContractError,
    DeadlockError,
    ErrorBody,
    GatewayError,
    MagentoError,
    MaintenanceError,
    NotFoundError,
    PageSizeLimitError,
    RetryInterrupted,
    RouteMissingError,
    ServerError,
    ThrottledError,
    TransientError,
    TwoFactorRequiredError,
)
from bridge.magento.ratelimit import StoreGate

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def interruptible_sleep(seconds: float) -> None:
    """Sleep, but give up at once when the daemon is asked to stop (SIGTERM).

    A backoff can last minutes (maintenance, Retry-After); a stopping daemon must not
    wait it out. Nothing is sent after the stop: the caller gets ``RetryInterrupted``.
    """
    from bridge import shutdown

    if seconds <= 0:
        return
    if shutdown.stop_event().wait(seconds):
        raise RetryInterrupted(f"stop requested during a {seconds:.1f} s wait; not retried")


@dataclass
class RetryPolicy:
    """Tunable waits and limits. Defaults follow docs/magento.md C3, C4 and H3."""

    base_s: float = 2.0  # full-jitter exponential backoff: uniform(0, min(max_s, base*2^n))
    max_s: float = 300.0
    read_attempts: int = 8  # total attempts for reads (and idempotent writes)
    write_attempts: int = 5  # total attempts for writes
    server_error_retries: int = 3  # masked 500s
    deadlock_retries: int = 3
    bad_response_retries: int = 1  # a non-JSON 2xx
    maintenance_base_s: float = 5.0  # HTML 503: doubling pause …
    maintenance_max_s: float = 300.0  # … capped here
    maintenance_retries: int = 20  # about 1.5 h of maintenance at the cap
    retry_after_max_s: float = 900.0  # never sleep longer than this on one Retry-After
    sleep: Callable[[float], None] = field(default=interruptible_sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    wall_clock: Callable[[], float] = field(default=time.time, repr=False)  # for HTTP dates
    jitter: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    @classmethod
    def fast(cls, **overrides: Any) -> RetryPolicy:
        """Millisecond waits with the default limits: for tests and benches."""
        values: dict[str, Any] = {
            "base_s": 0.001,
            "max_s": 0.01,
            "maintenance_base_s": 0.001,
            "maintenance_max_s": 0.01,
            "retry_after_max_s": 0.01,
        }
        values.update(overrides)
        return cls(**values)


# --- classification -------------------------------------------------------------------

_WAF_MARKERS = (
    "cf-error-details",
    "cloudflare",
    "sucuri_cloudproxy",
    "sucuri website firewall",
    "access denied | ",
    "request blocked",
)
_TWO_FA = re.compile(r"2fa provider|two-factor|2fa", re.IGNORECASE)
_DEADLOCK = re.compile(r"deadlock found|lock wait timeout|SQLSTATE\[40001\]", re.IGNORECASE)
_PAGE_SIZE = re.compile(r"Maximum SearchCriteria pageSize is", re.IGNORECASE)
_NO_ROUTE = "Request does not match any route."


@dataclass
class Answer:
    """The facts the classification table looks at."""

    status: int
    body: ErrorBody
    text: str
    headers: Any

    @property
    def html(self) -> bool:
        return not self.body.is_json

    @property
    def waf(self) -> bool:
        low = self.text[:20000].lower()
        return any(m in low for m in _WAF_MARKERS) or "cf-mitigated" in {
            k.lower() for k in self.headers
        }


@dataclass(frozen=True)
class Classification:
    name: str
    when: Callable[[Answer], bool]
    error: type[MagentoError]


# First match wins. Successes (2xx JSON) never reach this table.
CLASSIFICATION: tuple[Classification, ...] = (
    Classification("2xx that is not JSON", lambda a: a.status < 300, BadResponseError),
    Classification(
        "2FA blocks the admin token route",
        lambda a: a.status in (400, 401) and bool(_TWO_FA.search(a.body.template)),
        TwoFactorRequiredError,
    ),
    Classification(
        "CDN/WAF page", lambda a: a.status in (403, 429) and a.html and a.waf, BlockedByEdgeError
    ),
    Classification("429 throttled", lambda a: a.status == 429, ThrottledError),
    Classification("401 unauthorised", lambda a: a.status == 401, AuthError),
    Classification("HTML 503: maintenance", lambda a: a.status == 503 and a.html, MaintenanceError),
    Classification("HTML 404: wrong base_url/store", lambda a: a.status == 404 and a.html,
                   RouteMissingError),
    Classification(
        "JSON 404 no route: wrong store code",
        lambda a: a.status == 404 and a.body.template.strip() == _NO_ROUTE,
        RouteMissingError,
    ),
    Classification("JSON 404 NoSuchEntity", lambda a: a.status == 404, NotFoundError),
    Classification(
        "page size over the store's limit",
        lambda a: a.status == 400 and bool(_PAGE_SIZE.search(a.body.message)),
        PageSizeLimitError,
    ),
    Classification(
        "MySQL deadlock / lock wait",
        lambda a: (a.status == 400 or a.status >= 500)
        and bool(_DEADLOCK.search(a.body.message + " " + " ".join(a.body.errors))),
        DeadlockError,
    ),
    Classification("HTML 403: edge", lambda a: a.status == 403 and a.html, BlockedByEdgeError),
    Classification("500", lambda a: a.status == 500, ServerError),
    Classification("other 5xx", lambda a: a.status >= 500, GatewayError),
    Classification("other 4xx", lambda a: 400 <= a.status < 500, ContractError),
    Classification("anything else", lambda a: True, MagentoError),
)


def classify(answer: Answer) -> type[MagentoError]:
    for rule in CLASSIFICATION:
        if rule.when(answer):
            return rule.error
    return MagentoError  # pragma: no cover - the last rule always matches


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --- the retry table --------------------------------------------------------------------


@dataclass(frozen=True)
class RetryRule:
    """How one kind of transient failure is retried."""

    kind: str
    limit: str  # RetryPolicy attribute holding the retry count ("attempts" = per method)
    wait: str  # "backoff" | "retry_after" | "maintenance"
    writes: str  # "always": the write surely did not happen; "idempotent": PUT/DELETE only;
    # "unsent": only when the request never left (connect failure)


RETRY_TABLE: dict[str, RetryRule] = {
    r.kind: r
    for r in (
        RetryRule("THROTTLED", "attempts", "retry_after", "always"),
        RetryRule("MAINTENANCE", "maintenance_retries", "maintenance", "always"),
        RetryRule("DEADLOCK", "deadlock_retries", "backoff", "always"),
        RetryRule("GATEWAY", "attempts", "retry_after", "idempotent"),
        RetryRule("SERVER_ERROR", "server_error_retries", "backoff", "idempotent"),
        RetryRule("CONNECTION", "attempts", "backoff", "unsent"),
        RetryRule("TIMEOUT", "attempts", "backoff", "unsent"),
        RetryRule("BAD_RESPONSE", "bad_response_retries", "backoff", "idempotent"),
    )
}


def is_retryable(exc: BaseException, method: str) -> bool:
    """Transient, listed in the table, and safe to repeat for this method."""
    if not isinstance(exc, TransientError):
        return False
    rule = RETRY_TABLE.get(exc.kind)
    if rule is None:
        return False
    if method.upper() in IDEMPOTENT_METHODS or rule.writes == "always":
        return True
    if rule.writes == "unsent":
        return not exc.maybe_applied
    return False


class _Controller:
    """Per-call tenacity hooks: per-kind retry counts, table-driven waits, store pauses."""

    def __init__(
        self,
        policy: RetryPolicy,
        gate: StoreGate,
        method: str,
        on_retry: Callable[[MagentoError, float, int], None] | None,
    ) -> None:
        self.policy = policy
        self.gate = gate
        self.method = method.upper()
        self.on_retry = on_retry
        self.counts: Counter[str] = Counter()
        self.pause_store = False

    def _limit(self, rule: RetryRule) -> int:
        if rule.limit == "attempts":
            attempts = (
                self.policy.read_attempts
                if self.method in ("GET", "HEAD")
                else self.policy.write_attempts
            )
            return attempts - 1
        return int(getattr(self.policy, rule.limit))

    def retry(self, exc: BaseException) -> bool:
        return is_retryable(exc, self.method)

    def wait(self, state: RetryCallState) -> float:
        """Runs first (tenacity computes the wait before the stop check): count, then size."""
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, MagentoError)
        p = self.policy
        rule = RETRY_TABLE[exc.kind]
        self.counts[exc.kind] += 1
        self.pause_store = False
        if exc.retry_after is not None and rule.wait in ("retry_after", "maintenance"):
            seconds = min(exc.retry_after, p.retry_after_max_s)
            self.pause_store = True
        elif rule.wait == "maintenance":
            seconds = self.gate.next_maintenance_pause(p.maintenance_base_s, p.maintenance_max_s)
            self.pause_store = True
        else:
            n = self.counts[exc.kind]
            seconds = p.jitter(0.0, min(p.max_s, p.base_s * (2 ** (n - 1))))
        return seconds

    def stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, MagentoError) or exc.kind not in RETRY_TABLE:
            return True
        return self.counts[exc.kind] > self._limit(RETRY_TABLE[exc.kind])

    def before_sleep(self, state: RetryCallState) -> None:
        """Only once a retry is decided: pause the whole store, report the retry."""
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, MagentoError)
        seconds = state.upcoming_sleep
        if self.pause_store:
            self.gate.pause(seconds)
        if self.on_retry:
            self.on_retry(exc, seconds, state.attempt_number)


def retrying(
    policy: RetryPolicy,
    gate: StoreGate,
    method: str,
    on_retry: Callable[[MagentoError, float, int], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for one logical call; the last error is re-raised as is."""
    ctl = _Controller(policy, gate, method, on_retry)
    return Retrying(
        retry=retry_if_exception(ctl.retry),
        stop=ctl.stop,
        wait=ctl.wait,
        before_sleep=ctl.before_sleep,
        sleep=policy.sleep,
        reraise=True,
    )
