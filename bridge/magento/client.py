"""MagentoClient: the only code in segbridge that speaks HTTP to Magento.

One client per store. It is thread-safe: each thread gets its own ``requests.Session``
(connection pools are not shared across threads), statistics are locked, the
store-wide pause and the rate limiters are shared.

Every call goes through ``_call``: read-only guard, store pause, rate limit, write
semaphore, auth (re-signed / re-tokened per attempt), the table-driven retry policy
(``retry.py``), one credential refresh on a 401, and typed errors (``errors.py``).

URLs (docs/config.md): reads ``/rest/{store_code}/V1/...``; customer, group, rule and coupon
writes ``/rest/all/V1/...``; CMS block calls take an explicit store code.

Why this file is long (about 1,000 lines): every request segbridge sends passes through
``_call`` and its helpers (attempt, interpretation of the answer, clock check, two-factor
and credential messages), and every endpoint is a short typed method beside them, so the
whole of what segbridge asks Magento can be read in one place. Retry policy, errors, auth,
rate limits, searchCriteria and paging already live in their own modules; the helpers at
the end (query encoding, request checks, reasons for an unreachable store) are used only
here.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import socket
import ssl
import threading
import time
import weakref
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import msgspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from bridge.config import AUTH_SECRET_KEYS, MagentoConfig, url_has_credentials
from bridge.errors import ConfigError
from bridge.logging_setup import HTTP, short_url
from bridge.magento.auth import ADMIN_TOKEN_PATH, Auth, NoAuth, auth_from_config
from bridge.magento.errors import (
    AdminLoginError,
    AuthError,
    BadResponseError,
    ConnectionFailedError,
    CredentialsRefusedError,
    InvalidRequestError,
    MagentoError,
    ReadOnlyError,
    RequestTimeoutError,
    StoreUnreachableError,
    StoreUnresponsiveError,
    TwoFactorRequiredError,
    parse_error_body,
)
from bridge.magento.ratelimit import RateLimiter, StoreGate
from bridge.magento.retry import Answer, RetryPolicy, classify, parse_retry_after, retrying
from bridge.magento.search import (
    MAX_PAGE_SIZE,
    Endpoint,
    Page,
    PageSizeLimits,
    Paginator,
    SearchCriteria,
)

log = logging.getLogger(__name__)

ADMIN_STORE = "all"
CLOCK_SKEW_WARN_S = 300.0
# Before the store has answered once, a connection attempt waits at most this long (a
# wrong base_url fails the command within 30 s, docs/commands.md); magento.timeout_s after.
FIRST_CONNECT_TIMEOUT_S = 10.0
# Requests in a row (across threads) that time out unanswered before the store counts as
# having stopped answering: a read is tried up to 8 times with back-off, so a store that
# accepts connections and never answers would otherwise hold the run lock for some
# 5 minutes a request, two requests an entity — the better part of an hour. Four in a
# row is two minutes at the default 30 s timeout; one answer in between resets it.
SILENT_LIMIT = 4

# Every list route the client pages through: path, unique sort key, id key in the items.
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("customers", "/V1/customers/search", "entity_id", "id"),
        Endpoint("customer_groups", "/V1/customerGroups/search", "id", "id"),
        Endpoint("orders", "/V1/orders", "entity_id", "entity_id"),
        Endpoint("carts", "/V1/carts/search", "entity_id", "id"),
        Endpoint("cms_blocks", "/V1/cmsBlock/search", "block_id", "id"),
        Endpoint("sales_rules", "/V1/salesRules/search", "rule_id", "rule_id"),
        Endpoint("coupons", "/V1/coupons/search", "coupon_id", "coupon_id"),
    )
}

LIST_PATHS = frozenset(e.path for e in ENDPOINTS.values())

# Every (method, path template) the client can send, in the schema's spelling.
ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", e.path) for e in ENDPOINTS.values()}
    | {
        ("POST", ADMIN_TOKEN_PATH),
        ("GET", "/V1/customers/{customerId}"),
        ("PUT", "/V1/customers/{customerId}"),
        ("POST", "/V1/customerGroups"),
        ("GET", "/V1/orders/{id}"),
        ("GET", "/V1/carts/{cartId}/totals"),
        ("GET", "/V1/store/websites"),
        ("GET", "/V1/store/storeViews"),
        ("GET", "/V1/store/storeGroups"),
        ("POST", "/V1/cmsBlock"),
        ("PUT", "/V1/cmsBlock/{id}"),
        ("GET", "/V1/salesRules/{ruleId}"),
        ("POST", "/V1/salesRules"),
        ("PUT", "/V1/salesRules/{ruleId}"),
        ("POST", "/V1/coupons"),
    }
)


class ClientStats:
    """Request and retry counts, safe to update from many threads (sync/bench report them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests sent (every attempt)
        self.retries = 0  # attempts that were repeats of an earlier failed one
        self.auth_refreshes = 0
        self.by_route: Counter[str] = Counter()  # "GET /V1/customers/search" -> requests
        self.retries_by_kind: Counter[str] = Counter()
        self.errors_by_kind: Counter[str] = Counter()  # errors that reached the caller
        self.wait_s = 0.0  # seconds slept in backoff

    def request(self, route: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_route[route] += 1

    def retry(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.retries += 1
            self.retries_by_kind[kind] += 1
            self.wait_s += seconds

    def refresh(self) -> None:
        with self._lock:
            self.auth_refreshes += 1
            self.retries += 1
            self.retries_by_kind["AUTH"] += 1

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors_by_kind[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "auth_refreshes": self.auth_refreshes,
                "wait_s": round(self.wait_s, 3),
                "by_route": dict(self.by_route),
                "retries_by_kind": dict(self.retries_by_kind),
                "errors_by_kind": dict(self.errors_by_kind),
            }

    def __repr__(self) -> str:
        return f"ClientStats(requests={self.requests}, retries={self.retries})"


@dataclass(frozen=True)
class _Request:
    method: str
    template: str  # schema path template, e.g. /V1/customers/{customerId}
    path: str  # filled in
    store_code: str
    params: list[tuple[str, str]] | None = None
    body: Any = None
    write: bool = False
    anonymous: bool = False
    keys_only: str | None = None  # a search whose items need only this id and updated_at

    @property
    def route(self) -> str:
        return f"{self.method} {self.template}"


class ListAnswer(dict):  # type: ignore[type-arg]
    """A decoded search result that also keeps the raw ``body`` it was decoded from
    (``light``: its items hold only their keys, see ``keys_page``)."""

    body: bytes | None = None
    light: bool = False


class MagentoClient:
    """Typed calls for every route segbridge needs; see the module docstring for the rules.

    ``search_*`` calls return a ``Paginator``: iterate it for items (all pages, fetched
    ``magento.concurrency`` at a time after the first), ``.pages()`` for ``Page`` objects
    in order, ``.page(1)`` for a single page (keyset paging: ``Page.total_count`` says how
    many match). ``page_size_limit`` is the store's limit once learnt (persist it and pass
    it back as ``MagentoClient(..., page_size_limit=N)``).
    """

    def __init__(
        self,
        cfg: MagentoConfig,
        read_only: bool = False,
        *,
        policy: RetryPolicy | None = None,
        auth: Auth | None = None,
        page_size_limit: int | None = None,
    ) -> None:
        if url_has_credentials(cfg.base_url):
            # Never echoed: the user and password would reach logs, the runs and reports.
            raise ConfigError(["magento.base_url: must not hold a user name or password "
                               "(user:password@): sign in with [magento.auth]"])
        self.cfg = cfg
        self.read_only = read_only
        self.policy = policy or RetryPolicy()
        self.base_url = cfg.base_url.rstrip("/")
        self.stats = ClientStats()
        self.limits = PageSizeLimits(page_size_limit)
        self._gate = StoreGate(clock=self.policy.clock, sleep=self.policy.sleep)
        self._read_limiter = RateLimiter(cfg.requests_per_second, sleep=self.policy.sleep)
        self._write_limiter = RateLimiter(cfg.writes_per_second, sleep=self.policy.sleep)
        self._write_slots = threading.BoundedSemaphore(max(1, cfg.write_concurrency))
        self._env_proxies = requests.utils.get_environ_proxies(self.base_url)
        self._verify: bool | str = cfg.verify_tls and (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True)
        self._idle: list[requests.Session] = []  # keep-alive connections, one per session
        self._max_idle = max(1, cfg.concurrency) + max(1, cfg.write_concurrency) + 1
        self._sessions_lock = threading.Lock()
        self._clock_checked = False
        self.clock_skew_s: float | None = None
        # Until the store first answers (any HTTP answer), not reaching it is final.
        self.answered = False
        self._unreachable: StoreUnreachableError | StoreUnresponsiveError | None = None
        self._silent = 0  # requests in a row, across threads, that timed out unanswered
        self._silent_guard = threading.Lock()
        # Until a request is accepted, a 401 means the credentials themselves are refused.
        self._accepted = False
        self._refused: MagentoError | None = None  # credentials or admin login refused
        self.auth = auth if auth is not None else auth_from_config(cfg.auth, self._admin_token)

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        with self._sessions_lock:
            idle, self._idle = self._idle, []
        for s in idle:
            s.close()

    def __enter__(self) -> MagentoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MagentoClient({self.base_url!r}, auth={self.auth!r}, read_only={self.read_only})"

    @property
    def page_size_limit(self) -> int | None:
        """The store's maximum page size, once Magento told us (``None`` = not known)."""
        return self.limits.limit

    def _new_session(self) -> requests.Session:
        s = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        s.headers.update({"Accept": "application/json", "User-Agent": "segbridge"})
        # The environment (proxies, CA bundle) is read once here rather than on every
        # request, which costs requests ~0.5 ms a call; .netrc is never used (auth is ours).
        s.trust_env = False
        s.proxies = self._env_proxies
        s.verify = self._verify
        return s

    def _take_session(self) -> requests.Session:
        """A session no other thread is using (Session is not thread-safe); reused after."""
        with self._sessions_lock:
            if self._idle:
                return self._idle.pop()
        return self._new_session()

    def _give_session(self, s: requests.Session) -> None:
        with self._sessions_lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(s)
                return
        s.close()

    # --- the one way out --------------------------------------------------------------------

    def _url(self, req: _Request) -> str:
        return f"{self.base_url}/rest/{req.store_code}{req.path}"

    def _call(self, req: _Request) -> Any:
        if req.write and self.read_only:
            self.stats.error(ReadOnlyError.kind)
            raise ReadOnlyError(
                "read-only client: this write was not sent",
                method=req.method, url=self._url(req), route=req.route,
            )
        if self._unreachable is not None:
            raise self._unreachable
        if self._refused is not None:  # not sent: said once, and never tried again
            raise self._refused
        auth: Auth = NoAuth() if req.anonymous else self.auth
        for auth_try in (1, 2):
            used = [auth.generation]  # the credentials generation the last attempt used
            try:
                for attempt in retrying(self.policy, self._gate, req.method, self._on_retry):
                    with attempt:
                        return self._attempt(req, auth, used)
            except TwoFactorRequiredError as exc:
                self.stats.error(exc.kind)
                if req.anonymous:
                    raise self._two_factor(exc) from None
                raise
            except AdminLoginError as exc:
                self.stats.error(exc.kind)
                raise
            except AuthError as exc:
                if req.anonymous:  # the admin token route itself: bad username/password
                    self.stats.error(AdminLoginError.kind)
                    names = self._env_names()
                    raise AdminLoginError(
                        f"the admin token route refused the user name and password in "
                        f"{names}: {exc.message} (not tried again in this run: Magento locks "
                        "the account after a few failures)",
                        template=exc.template, parameters=exc.parameters, status=exc.status,
                        method=exc.method, url=exc.url, route=exc.route,
                    ) from None
                if auth.method == "admin" and auth_try == 1:
                    # An admin token expires or is revoked: the one kind of credentials
                    # worth renewing (token and OAuth credentials are static).
                    log.info("%s: the admin token was refused (expired or revoked); "
                             "signing in again", req.route)
                    self.stats.refresh()
                    auth.refresh(used[0])
                    continue
                self.stats.error(exc.kind)
                if auth.method in ("token", "oauth1") and not self._accepted:
                    refused = self._credentials_refused(exc)
                    self._refused = refused
                    raise refused from None
                raise self._auth_failed(exc) from None
            except MagentoError as exc:
                self.stats.error(exc.kind)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _on_retry(self, exc: MagentoError, seconds: float, attempt: int) -> None:
        self.stats.retry(exc.kind, seconds)
        log.warning(
            "%s: %s (HTTP %s) on attempt %d; retrying in %.2f s%s",
            exc.route, exc.kind, exc.status if exc.status is not None else "-",
            attempt, seconds, f" [Report ID: {exc.report_id}]" if exc.report_id else "",
        )

    def _attempt(self, req: _Request, auth: Auth, used: list[int]) -> Any:
        self._gate.wait()
        (self._write_limiter if req.write else self._read_limiter).acquire()
        url = self._url(req)
        requests_auth = auth.requests_auth()  # may fetch an admin token first
        used[0] = auth.generation
        slot = self._write_slots if req.write else nullcontext()
        timeout: float | tuple[float, float] = self.cfg.timeout_s
        if not self.answered:
            timeout = (min(self.cfg.timeout_s, FIRST_CONNECT_TIMEOUT_S), self.cfg.timeout_s)
        with slot:
            self.stats.request(req.route)
            session = self._take_session()
            started = time.monotonic()
            try:
                prep = prepare(session, req.method, url, req.params, req.body, requests_auth)
                resp = session.send(
                    prep, timeout=timeout, allow_redirects=False,
                    **session.merge_environment_settings(prep.url, {}, None, None, None),
                )
                resp.content  # noqa: B018 - read the whole body inside the try
            except requests.exceptions.RequestException as exc:
                session.close()  # a half-used connection is never reused
                if not self.answered:
                    cause = unreachable_cause(exc)
                    if cause is not None:
                        log.log(HTTP, "%s %s: %s", req.method, short_url(url), cause)
                        self._unreachable = StoreUnreachableError(self.base_url, cause)
                        raise self._unreachable from None
                if isinstance(exc, requests.exceptions.Timeout):
                    with self._silent_guard:
                        self._silent += 1
                        if self._silent >= SILENT_LIMIT and self._unreachable is None:
                            self._unreachable = StoreUnresponsiveError(
                                self.base_url, self._silent, self.cfg.timeout_s)
                    if self._unreachable is not None:
                        raise self._unreachable from None
                raise self._transport_error(req, url, exc) from None
            self._give_session(session)
        self.answered = True
        self._silent = 0
        if log.isEnabledFor(HTTP):
            log.log(HTTP, "%s %s -> %d (%d bytes, %.0f ms)", req.method, short_url(url),
                    resp.status_code, len(resp.content), (time.monotonic() - started) * 1000)
        self._check_clock(resp)
        data = self._interpret(req, url, resp)
        if not req.anonymous:
            self._accepted = True
        return data

    def _transport_error(self, req: _Request, url: str,
                         exc: requests.exceptions.RequestException) -> MagentoError:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return RequestTimeoutError(
                f"connect timeout after {self.cfg.timeout_s} s",
                method=req.method, url=url, route=req.route, maybe_applied=False,
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return RequestTimeoutError(
                f"no answer within {self.cfg.timeout_s} s",
                method=req.method, url=url, route=req.route, maybe_applied=req.write,
            )
        return ConnectionFailedError(
            f"connection failed: {_short_reason(exc)}",
            method=req.method, url=url, route=req.route,
            maybe_applied=req.write and not _never_sent(exc),
        )

    def _interpret(self, req: _Request, url: str, resp: requests.Response) -> Any:
        status = resp.status_code
        ctype = resp.headers.get("Content-Type")
        if 200 <= status < 300:
            if not resp.content:
                if req.template in LIST_PATHS:  # a search always answers an object
                    raise BadResponseError("the list answer is empty", status=status,
                                           method=req.method, url=url, route=req.route)
                self._gate.succeeded()
                return None
            if req.keys_only is not None and (ctype is None or "json" in ctype.lower()):
                light = keys_page(resp.content, req.keys_only)
                if light is not None and type(light.get("total_count")) is int:
                    self._gate.succeeded()
                    return light
            keep_body = True
            try:
                # msgspec parses a page several times faster than json; a body it refuses
                # (not UTF-8, NaN, a lone surrogate, a number past a double) gets requests'
                # own decoding, as before, and is not kept: whoever decodes the kept body
                # again uses msgspec too. A whole number past 64 bits is read exactly, as
                # json reads it. Nesting deeper than Python's recursion limit is not JSON
                # we can read, in either decoder.
                data = msgspec.json.decode(resp.content)
            except (ValueError, RecursionError):
                keep_body = False
                try:
                    data = resp.json()
                except (ValueError, RecursionError):
                    data = _NOT_JSON
            if data is not _NOT_JSON and (ctype is None or "json" in ctype.lower()):
                if req.template in LIST_PATHS:
                    problem = list_answer_problem(data)
                    if problem is not None:
                        raise BadResponseError(
                            f"the list answer {problem}",
                            status=status, method=req.method, url=url, route=req.route,
                        )
                self._gate.succeeded()
                if req.params is not None and type(data) is dict:
                    data = ListAnswer(data)  # a search result: keep its body (Items.body)
                    data.body = resp.content if keep_body else None
                return data
            raise BadResponseError(
                f"the answer is not JSON (Content-Type {ctype!r}): "
                f"{parse_error_body(resp.text, 'text/html').message[:200]}",
                status=status, method=req.method, url=url, route=req.route, is_json=False,
                maybe_applied=req.write,
            )
        body = parse_error_body(resp.text, ctype)
        cls = classify(Answer(status, body, resp.text, resp.headers))
        raise cls(
            body.message,
            template=body.template,
            parameters=body.parameters,
            status=status,
            report_id=body.report_id,
            errors=body.errors,
            trace=body.trace,
            method=req.method,
            url=url,
            route=req.route,
            retry_after=parse_retry_after(resp.headers.get("Retry-After"),
                                          self.policy.wall_clock()),
            maybe_applied=req.write and status >= 500,
            is_json=body.is_json,
        )

    def _check_clock(self, resp: requests.Response) -> None:
        """Warn once if our clock and the store's differ by > 5 min (OAuth rejects it)."""
        if self._clock_checked:
            return
        self._clock_checked = True
        date = resp.headers.get("Date")
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        self.clock_skew_s = time.time() - server
        if abs(self.clock_skew_s) > CLOCK_SKEW_WARN_S:
            log.warning(
                "this machine's clock differs from the store's by %.0f s; OAuth 1.0a "
                "requests will be refused beyond 600 s: fix the clock (NTP)",
                self.clock_skew_s,
            )

    def _two_factor(self, exc: MagentoError) -> TwoFactorRequiredError:
        return TwoFactorRequiredError(
            f"{exc.message} — the admin token route is blocked by two-factor "
            "authentication (Magento_TwoFactorAuth). Create an integration in Admin > "
            "System > Integrations and use magento.auth.method = \"oauth1\" (or \"token\") "
            "instead of \"admin\".",
            template=exc.template, parameters=exc.parameters, status=exc.status,
            method=exc.method, url=exc.url, route=exc.route,
        )

    def _env_names(self) -> str:
        """The environment variables the configured auth reads, for messages."""
        env = self.cfg.auth.env
        order = AUTH_SECRET_KEYS.get(self.cfg.auth.method, ())
        names = [env[k] for k in order if k in env] + [
            v for k, v in sorted(env.items()) if k not in order]
        if not names:
            return "the environment"
        if len(names) == 1:
            return f"the environment variable {names[0]}"
        return "the environment variables " + ", ".join(names[:-1]) + " and " + names[-1]

    def _credentials_refused(self, exc: MagentoError) -> CredentialsRefusedError:
        """The one line for a 401 before any request was accepted (token or OAuth)."""
        if self.auth.method == "oauth1":
            also = ("that the integration is active and its API resources include what "
                    "segbridge reads and writes, and that this machine's clock is right "
                    "(OAuth allows 10 minutes)")
        else:
            also = ("that the integration is active and its API resources include what "
                    "segbridge reads and writes, and on Magento 2.4.4+ that integration tokens "
                    "are allowed as bearer tokens (Stores > Configuration > Services > OAuth > "
                    "Consumer Settings, oauth/consumer/enable_integration_as_bearer) or use "
                    'magento.auth.method = "oauth1"')
        line = (f"Magento refused the credentials in {self._env_names()} (HTTP 401 on "
                f"{exc.route or exc.method}: {exc.message}): they are wrong or revoked. Check "
                f"them, {also}; see docs/config.md")
        return CredentialsRefusedError(
            line, template=exc.template, parameters=exc.parameters, status=exc.status,
            method=exc.method, url=exc.url, route=exc.route,
        )

    def _auth_failed(self, exc: MagentoError) -> AuthError:
        hint = ""
        if self.auth.method == "token":
            hint = (
                " (INTEGRATION_BEARER_DISABLED_OR_ACL: since 2.4.4 Magento refuses integration "
                "tokens as Bearer tokens unless Stores > Configuration > Services > OAuth > "
                "Consumer Settings > 'Allow OAuth Access Tokens to be used as standalone Bearer "
                "tokens' (oauth/consumer/enable_integration_as_bearer) is Yes; otherwise use "
                "magento.auth.method = \"oauth1\". Also check the integration's API resources.)"
            )
        elif self.auth.method == "oauth1":
            hint = (" (check the four OAuth values of the integration, its API resources, and "
                    "this machine's clock)")
        elif self.auth.method == "admin":
            hint = " (check the admin user's name, password and role resources)"
        if self._accepted:  # the same credentials worked for other requests
            return AuthError(
                f"HTTP 401 on {exc.route}: {exc.message} (the credentials work for other "
                "requests: the integration or role probably lacks this API resource)",
                template=exc.template, parameters=exc.parameters, status=exc.status,
                method=exc.method, url=exc.url, route=exc.route,
            )
        return AuthError(
            f"Magento refused the credentials twice: {exc.message}{hint}",
            template=exc.template, parameters=exc.parameters, status=exc.status,
            method=exc.method, url=exc.url, route=exc.route,
        )

    def _admin_token(self, username: str, password: str) -> str:
        """POST the admin credentials; exempt from read-only mode (it changes nothing). A
        refused login is never tried again by this client (Magento locks the account)."""
        try:
            token = self._call(
                _Request("POST", ADMIN_TOKEN_PATH, ADMIN_TOKEN_PATH, self.cfg.store_code,
                         body={"username": username, "password": password}, anonymous=True)
            )
        except (AdminLoginError, TwoFactorRequiredError) as exc:
            self._refused = exc
            raise
        if not isinstance(token, str) or not token:
            raise AuthError("the admin token route answered without a token",
                            method="POST", route=f"POST {ADMIN_TOKEN_PATH}")
        return token

    # --- building blocks -------------------------------------------------------------------

    def _get(self, template: str, store_code: str | None = None, **path: Any) -> Any:
        return self._call(
            _Request("GET", template, _fill(template, path), store_code or self.cfg.store_code)
        )

    def _write(self, method: str, template: str, body: Any, store_code: str = ADMIN_STORE,
               **path: Any) -> Any:
        return self._call(
            _Request(method, template, _fill(template, path), store_code, body=body, write=True)
        )

    def _list(self, path: str, params: list[tuple[str, str]], store_code: str | None,
              keys_only: str | None = None) -> Any:
        return self._call(
            _Request("GET", path, path, store_code or self.cfg.store_code, params=params,
                     keys_only=keys_only)
        )

    def paginator(
        self,
        endpoint: str | Endpoint,
        criteria: SearchCriteria | None = None,
        *,
        page_size: int | None = None,
        concurrency: int | None = None,
        store_code: str | None = None,
        max_requests: int | None = None,
        bisect: bool = True,
    ) -> Paginator:
        """Pages of any list route in ``ENDPOINTS`` (``"customers"``, ``"orders"``…);
        ``bisect``: a page that keeps failing with 500 is fetched in smaller parts."""
        ep = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
        if page_size is None:
            page_size = criteria.size if criteria and criteria.size else self.cfg.page_size
        size = min(page_size, MAX_PAGE_SIZE)
        return Paginator(
            self._list, ep, criteria, page_size=size,
            concurrency=concurrency or self.cfg.concurrency, store_code=store_code,
            limits=self.limits, max_requests=max_requests, bisect=bisect,
        )

    def fetch_page(
        self,
        endpoint: str,
        criteria: SearchCriteria | None = None,
        *,
        page: int = 1,
        page_size: int | None = None,
        store_code: str | None = None,
        keys_only: bool = False,
        bisect: bool = True,
    ) -> Page:
        """One page (default the first) of a search, with its ``total_count``.

        ``keys_only``: the items carry only their id and ``updated_at`` (the raw answer is
        in ``page.items.body``, see ``keys_page``). ``bisect=False``: a page that keeps
        failing raises (the sync's keyset scan narrows it down itself)."""
        return self.paginator(endpoint, criteria, page_size=page_size, store_code=store_code,
                              bisect=bisect).page(page, keys_only=keys_only)

    # Single pages per entity (``check --online`` probes, keyset paging).

    def search_customers_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``customers``, with its ``total_count``."""
        return self.fetch_page("customers", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_customer_groups_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``customer_groups``, with its ``total_count``."""
        return self.fetch_page("customer_groups", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_orders_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``orders``, with its ``total_count``."""
        return self.fetch_page("orders", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_carts_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``carts``, with its ``total_count``."""
        return self.fetch_page("carts", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_cms_blocks_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``cms_blocks``, with its ``total_count``."""
        return self.fetch_page("cms_blocks", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_sales_rules_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``sales_rules``, with its ``total_count``."""
        return self.fetch_page("sales_rules", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    def search_coupons_page(self, criteria: SearchCriteria | None = None,
                     store_code: str | None = None, *, page: int = 1,
                     page_size: int | None = None) -> Page:
        """One page (default the first) of ``coupons``, with its ``total_count``."""
        return self.fetch_page("coupons", criteria, page=page, page_size=page_size,
                               store_code=store_code)

    # --- customers -------------------------------------------------------------------------

    def search_customers(self, criteria: SearchCriteria | None = None, **kw: Any) -> Paginator:
        """``GET /V1/customers/search``; sorted with ``entity_id`` as tiebreaker."""
        return self.paginator("customers", criteria, **kw)

    def get_customer(self, customer_id: int, store_code: str = ADMIN_STORE) -> dict[str, Any]:
        """A fresh copy from ``/rest/all`` (docs/push.md: read before a group write)."""
        return self._get("/V1/customers/{customerId}", store_code, customerId=customer_id)

    def put_customer(self, customer_id: int, customer: dict[str, Any]) -> dict[str, Any]:
        """``PUT /rest/all/V1/customers/{id}`` with ``{"customer": …}``; answers the read-back.

        The id must be in the body too, or Magento saves a new customer (docs/magento.md A5).
        """
        body_id = customer.get("id")
        if body_id is not None and int(body_id) != int(customer_id):
            raise InvalidRequestError(
                f"customer body id {body_id} differs from the URL id {customer_id}",
                method="PUT", route="PUT /V1/customers/{customerId}",
            )
        customer = {**customer, "id": int(customer_id)}
        return self._write("PUT", "/V1/customers/{customerId}", {"customer": customer},
                           customerId=customer_id)

    # --- customer groups ---------------------------------------------------------------------

    def search_customer_groups(self, criteria: SearchCriteria | None = None,
                               **kw: Any) -> Paginator:
        return self.paginator("customer_groups", criteria, **kw)

    def create_customer_group(self, code: str, tax_class_id: int) -> dict[str, Any]:
        """``POST /rest/all/V1/customerGroups``; codes are at most 32 characters (G1)."""
        if not code or len(code) > 32:
            raise InvalidRequestError(
                f"customer group code {code!r} must be 1 to 32 characters",
                method="POST", route="POST /V1/customerGroups",
            )
        return self._write("POST", "/V1/customerGroups",
                           {"group": {"code": code, "tax_class_id": int(tax_class_id)}})

    # --- orders and carts ----------------------------------------------------------------

    def search_orders(self, criteria: SearchCriteria | None = None, **kw: Any) -> Paginator:
        """``GET /V1/orders``; items carry ``entity_id``."""
        return self.paginator("orders", criteria, **kw)

    def get_order(self, order_id: int) -> dict[str, Any]:
        return self._get("/V1/orders/{id}", id=order_id)

    def search_carts(self, criteria: SearchCriteria | None = None, **kw: Any) -> Paginator:
        return self.paginator("carts", criteria, **kw)

    def cart_totals(self, cart_id: int) -> dict[str, Any]:
        return self._get("/V1/carts/{cartId}/totals", cartId=cart_id)

    # --- stores ----------------------------------------------------------------------------

    def websites(self) -> list[dict[str, Any]]:
        return self._get("/V1/store/websites")

    def store_views(self) -> list[dict[str, Any]]:
        return self._get("/V1/store/storeViews")

    def store_groups(self) -> list[dict[str, Any]]:
        return self._get("/V1/store/storeGroups")

    # --- CMS blocks (explicit store scope: "all" = store 0, else the store view code) ----

    def search_cms_blocks(self, criteria: SearchCriteria | None = None,
                          store_code: str | None = None, **kw: Any) -> Paginator:
        return self.paginator("cms_blocks", criteria, store_code=store_code, **kw)

    def create_cms_block(self, block: dict[str, Any], store_code: str) -> dict[str, Any]:
        """``POST /rest/{store_code}/V1/cmsBlock``: the URL scope decides the store (E2)."""
        return self._write("POST", "/V1/cmsBlock", {"block": block}, _store(store_code))

    def update_cms_block(self, block_id: int, block: dict[str, Any],
                         store_code: str) -> dict[str, Any]:
        block = {**block, "id": int(block_id)}
        return self._write("PUT", "/V1/cmsBlock/{id}", {"block": block}, _store(store_code),
                           id=block_id)

    # --- cart price rules and coupons -----------------------------------------------------

    def search_sales_rules(self, criteria: SearchCriteria | None = None,
                           **kw: Any) -> Paginator:
        return self.paginator("sales_rules", criteria, **kw)

    def get_sales_rule(self, rule_id: int) -> dict[str, Any]:
        return self._get("/V1/salesRules/{ruleId}", ruleId=rule_id)

    def create_sales_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        """``POST /rest/all/V1/salesRules``; refuses locally what Magento refuses (F1)."""
        _check_rule(rule, "POST /V1/salesRules")
        return self._write("POST", "/V1/salesRules", {"rule": rule})

    def update_sales_rule(self, rule_id: int, rule: dict[str, Any]) -> dict[str, Any]:
        """A full rule (read, change, write back): a partial PUT loses coupon data (F2)."""
        _check_rule(rule, "PUT /V1/salesRules/{ruleId}")
        rule = {**rule, "rule_id": int(rule_id)}
        return self._write("PUT", "/V1/salesRules/{ruleId}", {"rule": rule}, ruleId=rule_id)

    def search_coupons(self, criteria: SearchCriteria | None = None, **kw: Any) -> Paginator:
        return self.paginator("coupons", criteria, **kw)

    def create_coupon(self, coupon: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "/V1/coupons", {"coupon": coupon})


_NOT_JSON = object()


@functools.lru_cache(maxsize=8)
def _keys_decoder(id_key: str) -> msgspec.json.Decoder[Any]:
    item = msgspec.defstruct("ItemKey", [(id_key, Any, None), ("updated_at", Any, None)])
    answer = msgspec.defstruct("KeysAnswer", [("items", list[item] | None, None),
                                              ("total_count", Any, None)])
    return msgspec.json.Decoder(answer)


def keys_page(body: bytes, id_key: str) -> ListAnswer | None:
    """A search answer with each item cut to ``{id_key: …, "updated_at": …}`` and
    ``total_count``, the raw ``body`` kept, marked ``light``; decoded without building the
    rest of each item (a page of orders is ~130 KB of JSON, several times dearer to decode
    whole). None when the answer is anything but an object of object items (the whole
    decoding then says what it is)."""
    try:
        page = _keys_decoder(id_key).decode(body)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
        return None
    items = [{id_key: getattr(i, id_key), "updated_at": i.updated_at}
             for i in page.items or ()]
    answer = ListAnswer({"items": items, "total_count": page.total_count})
    answer.body = body
    answer.light = True
    return answer


@functools.lru_cache(maxsize=8192)
def _quote(text: str) -> str:
    return quote_plus(text)


def encode_query(params: list[tuple[str, str]]) -> str | None:
    """``params`` as requests encodes them (urlencode: quote_plus of each name and value),
    names and values remembered: a sync sends the same names, and mostly the same values,
    on every page. None: not all text (then requests encodes them itself)."""
    for k, v in params:
        if type(k) is not str or type(v) is not str:
            return None
    return "&".join([_quote(k) + "=" + _quote(v) for k, v in params])


def prepare(session: requests.Session, method: str, url: str,
            params: list[tuple[str, str]] | None, body: Any,
            auth: requests.auth.AuthBase | None) -> requests.PreparedRequest:
    """What ``session.request(method, url, params=…, json=body, auth=auth)`` would send,
    the same bytes (tests/test_client_prepare.py), for less CPU: requests re-parses and
    re-quotes a URL whose query is given, and a search's query is some 3,000 characters
    of percent-escapes, looked at one by one in Python (~0.3 ms a request). So the URL is
    prepared without its query, which is encoded here, and signed (OAuth) with it."""
    query = encode_query(params) if params else None
    if query is None:
        return session.prepare_request(
            requests.Request(method, url, params=params, json=body, auth=auth))
    prep = _bare(session, method, url) if body is None else None
    if prep is None:
        prep = session.prepare_request(requests.Request(method, url, json=body))
    if prep.url is None or "?" in prep.url or "#" in prep.url:
        return session.prepare_request(
            requests.Request(method, url, params=params, json=body, auth=auth))
    prep.url = f"{prep.url}?{query}"
    if auth is not None:
        prep.prepare_auth(auth)
    return prep


# Per session: (method, URL) → what session.prepare_request gives for it (no query, no
# body) and the session's settings it was made with.
_BARE: weakref.WeakKeyDictionary[requests.Session, dict[tuple[str, str], tuple[Any, Any]]] = (
    weakref.WeakKeyDictionary())


def _bare(session: requests.Session, method: str, url: str) -> requests.PreparedRequest | None:
    """``session.prepare_request(Request(method, url))``, copied from the one made the first
    time: a sync asks for the same route thousands of times, and requests merges the
    session's headers, hooks and cookies anew each time (its isinstance checks against
    typing protocols alone cost ~40 µs a request). Made again when the session's headers,
    hooks or auth are not what they were; None (prepare in full) once the session holds a
    cookie or query parameters, which requests would add."""
    if session.params or len(session.cookies):
        return None
    state = (session.auth, list(session.headers.items()), session.hooks)
    kept = _BARE.setdefault(session, {})
    made = kept.get((method, url))
    if made is None or made[0] != state:
        made = kept[(method, url)] = (
            state, session.prepare_request(requests.Request(method, url)))
    return made[1].copy()


def _fill(template: str, values: dict[str, Any]) -> str:
    path = template
    for key, value in values.items():
        text = str(value)
        if not text or "/" in text or "?" in text or "#" in text:
            raise ValueError(f"{template}: {key}={value!r} is not a valid path value")
        path = path.replace("{" + key + "}", requests.utils.quote(text, safe=""))
    if "{" in path:
        raise ValueError(f"{template}: missing path values in {path}")
    return path


def _store(code: str) -> str:
    if not code or "/" in code:
        raise ValueError(f"store code {code!r} is not valid (use 'all' for store 0)")
    return code


def _check_rule(rule: dict[str, Any], route: str) -> None:
    missing = [k for k in ("website_ids", "customer_group_ids") if not rule.get(k)]
    if missing:
        raise InvalidRequestError(
            f"cart price rule {rule.get('name')!r}: {', '.join(missing)} must not be empty "
            "(Magento refuses it)",
            method=route.split()[0], route=route,
        )


def _never_sent(exc: requests.exceptions.RequestException) -> bool:
    """True when the connection could not be opened, so the request surely did not arrive."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NewConnectionError | ConnectTimeoutError | ConnectionRefusedError):
            return True
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            cur = reason
            continue
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return False


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:200]}"


def list_answer_problem(data: Any) -> str | None:
    """What is wrong with a search answer, or None: an object whose ``total_count`` is a
    whole number of 0 or more and whose ``items`` (null when none) is a list of objects.
    Anything else fails its entity after the retry table, never read as a short result."""
    if type(data) is not dict:
        return f"is a JSON {type(data).__name__}, not an object"
    total = data.get("total_count")
    if type(total) is not int:
        return "has no total_count" if total is None else "has a total_count that is not a number"
    if total < 0:
        return "has a negative total_count"
    items = data.get("items")
    if items is None:
        return None
    if type(items) is not list:
        return "has items that are not a list"
    if not all(type(i) is dict for i in items):
        return "has items that are not all objects"
    return None


def unreachable_cause(exc: BaseException) -> str | None:
    """Why the store could not be reached at all, in a few words, or None when the
    failure came later (a dropped connection, a read timeout): connection refused, name
    not found, TLS handshake failed, no answer to connect."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no answer to connect"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS handshake failed ({_innermost(exc, ssl.SSLError) or 'TLS error'})"
    if not isinstance(exc, requests.exceptions.ConnectionError) or not _never_sent(exc):
        return None
    if _innermost(exc, socket.gaierror) is not None:
        return "name not found (DNS)"
    if _innermost(exc, ConnectionRefusedError) is not None:
        return "connection refused"
    if _innermost(exc, ConnectTimeoutError) is not None:
        return "no answer to connect"
    inner = _innermost(exc, OSError)
    return f"cannot connect ({inner})" if inner else "cannot connect"


def _innermost(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``'s chain (reason, args, cause, context)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, kind) and cur is not exc:
            return cur
        for nxt in (getattr(cur, "reason", None), *(cur.args[:1] if cur.args else ()),
                    cur.__cause__, cur.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return None
