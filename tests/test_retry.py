"""The retry table (PITFALLS H4), error bodies (H1-H3), rate limits and read-only mode."""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from typing import Any

import pytest
import requests
import responses

from bridge.config import MagentoConfig
from bridge.magento import errors as E
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.errors import parse_error_body, render
from bridge.magento.ratelimit import RateLimiter
from bridge.magento.retry import RETRY_TABLE, RetryPolicy

BASE = "http://magento.test"
URL = f"{BASE}/rest/default/V1/customers/7"
WRITE_URL = f"{BASE}/rest/all/V1/customers/7"
JSON = "application/json"
HTML = "text/html; charset=UTF-8"
SECRET = "s3cret-token-value"

MASKED_500 = {"message": "Internal Error. Details are available in Magento log file. "
                         "Report ID: webapi-65f1a2b3c4d5e"}
DEADLOCK = {"message": "SQLSTATE[40001]: Serialization failure: 1213 Deadlock found when "
                       "trying to get lock; try restarting transaction"}
SAME_EMAIL = {"message": "A customer with the same email address already exists in an "
                         "associated website."}
NO_ENTITY = {"message": "No such entity with %fieldName = %fieldValue",
             "parameters": {"fieldName": "customerId", "fieldValue": 7}}
NO_ROUTE = {"message": "Request does not match any route."}
MAINTENANCE_PAGE = "<html><body><h1>Service Temporarily Unavailable</h1></body></html>"
NOT_FOUND_PAGE = "<html><body><h1>404 error: Page not found.</h1></body></html>"
CF_PAGE = '<html><div id="cf-error-details">Access denied</div></html>'


class Recorder:
    """Collects the sleeps a policy asks for instead of sleeping (a mocked clock)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 1000.0

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


def make(policy: RetryPolicy | None = None, **cfg: Any) -> MagentoClient:
    values: dict[str, Any] = {"base_url": BASE, "store_code": "default"}
    values.update(cfg)
    return MagentoClient(MagentoConfig(**values), policy=policy or RetryPolicy.fast(),
                         auth=TokenAuth(SECRET))


def recorded_policy(**kw: Any) -> tuple[RetryPolicy, Recorder]:
    rec = Recorder()
    return RetryPolicy(sleep=rec.sleep, clock=rec.clock, **kw), rec


def reply(status: int, body: Any = None, ctype: str = JSON,
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body if body is not None else {"id": 7})
    return {"status": status, "body": text, "content_type": ctype, "headers": headers or {}}


def queue(method: str, url: str, *answers: dict[str, Any] | Exception) -> None:
    for a in answers:
        if isinstance(a, Exception):
            responses.add(method, url, body=a)
        else:
            responses.add(method, url, **a)


# --- the table, row by row ---------------------------------------------------------------

# (name, answers for a GET, expected error kind or None for success, expected requests)
ROWS: list[tuple[str, list[Any], str | None, int]] = [
    ("400 contract message: permanent", [reply(400, SAME_EMAIL)], "CONTRACT", 1),
    ("400 deadlock twice then OK", [reply(400, DEADLOCK)] * 2 + [reply(200)], None, 3),
    ("400 deadlock: at most 3 retries", [reply(400, DEADLOCK)] * 5, "DEADLOCK", 4),
    ("400 page size: adapt (not retried here)",
     [reply(400, {"message": "Maximum SearchCriteria pageSize is %max",
                  "parameters": {"max": 50}})], "PAGE_SIZE_LIMIT", 1),
    ("403 HTML/WAF: edge, no retry", [reply(403, CF_PAGE, HTML)], "BLOCKED_BY_EDGE", 1),
    ("429 WAF page: edge, no retry", [reply(429, CF_PAGE, HTML)], "BLOCKED_BY_EDGE", 1),
    ("404 JSON NoSuchEntity: gone", [reply(404, NO_ENTITY)], "NOT_FOUND", 1),
    ("404 JSON no route: config", [reply(404, NO_ROUTE)], "ROUTE_MISSING", 1),
    ("404 HTML: config", [reply(404, NOT_FOUND_PAGE, HTML)], "ROUTE_MISSING", 1),
    ("429 then OK", [reply(429, {"message": "Too Many Requests"})] + [reply(200)], None, 2),
    ("500 masked twice then OK", [reply(500, MASKED_500)] * 2 + [reply(200)], None, 3),
    ("500 masked: at most 3 retries", [reply(500, MASKED_500)] * 6, "SERVER_ERROR", 4),
    ("500 PHP-fatal shape",
     [reply(500, {"messages": {"error": [{"code": 500, "message": "Server internal error. "
                                          "See details in report api/123456"}]}})] * 4,
     "SERVER_ERROR", 4),
    ("502 then OK", [reply(502, "Bad gateway", "text/html")] + [reply(200)], None, 2),
    ("503 JSON then OK", [reply(503, {"message": "busy"})] + [reply(200)], None, 2),
    ("504 then OK", [reply(504, "Gateway Timeout", "text/html")] + [reply(200)], None, 2),
    ("503 HTML maintenance then OK", [reply(503, MAINTENANCE_PAGE, HTML)] * 3 + [reply(200)],
     None, 4),
    ("connection reset then OK", [requests.ConnectionError("reset by peer"), reply(200)], None, 2),
    ("timeout then OK", [requests.ReadTimeout("read timed out"), reply(200)], None, 2),
    ("connection failures: read attempts", [requests.ConnectionError("down")] * 9,
     "CONNECTION", 8),
    ("non-JSON 200 then OK", [reply(200, "<html>proxy</html>", HTML), reply(200)], None, 2),
    ("non-JSON 200 twice: one retry", [reply(200, "<html>proxy</html>", HTML)] * 3,
     "BAD_RESPONSE", 2),
]


@pytest.mark.parametrize(("name", "answers", "kind", "calls"), ROWS, ids=[r[0] for r in ROWS])
@responses.activate
def test_retry_table_for_reads(name: str, answers: list[Any], kind: str | None,
                               calls: int) -> None:
    queue(responses.GET, URL, *answers)
    client = make()
    if kind is None:
        assert client._get("/V1/customers/{customerId}", customerId=7) == {"id": 7}
        assert client.stats.retries == calls - 1
    else:
        with pytest.raises(E.MagentoError) as info:
            client._get("/V1/customers/{customerId}", customerId=7)
        assert info.value.kind == kind
        assert client.stats.errors_by_kind[kind] == 1
    assert len(responses.calls) == calls
    assert client.stats.requests == calls


# (name, answers for a POST create, expected kind, requests, maybe_applied)
WRITE_ROWS: list[tuple[str, list[Any], str | None, int, bool]] = [
    ("500 on create: not repeated, may have applied", [reply(500, MASKED_500)] * 2,
     "SERVER_ERROR", 1, True),
    ("dropped connection on create: not repeated", [requests.ConnectionError("reset")] * 2,
     "CONNECTION", 1, True),
    ("read timeout on create: not repeated", [requests.ReadTimeout("slow")] * 2,
     "TIMEOUT", 1, True),
    ("429 on create: safe to repeat", [reply(429, {"message": "slow down"}), reply(200)],
     None, 2, False),
    ("maintenance on create: safe to repeat", [reply(503, MAINTENANCE_PAGE, HTML), reply(200)],
     None, 2, False),
    ("deadlock on create: rolled back, repeat", [reply(400, DEADLOCK), reply(200)], None, 2, False),
    ("429 on create: 5 attempts at most", [reply(429, {"message": "slow down"})] * 6,
     "THROTTLED", 5, False),
]


@pytest.mark.parametrize(("name", "answers", "kind", "calls", "maybe"), WRITE_ROWS,
                         ids=[r[0] for r in WRITE_ROWS])
@responses.activate
def test_retry_table_for_creates(name: str, answers: list[Any], kind: str | None, calls: int,
                                 maybe: bool) -> None:
    url = f"{BASE}/rest/all/V1/customerGroups"
    queue(responses.POST, url, *answers)
    client = make()
    if kind is None:
        client.create_customer_group("VIP", 3)
    else:
        with pytest.raises(E.MagentoError) as info:
            client.create_customer_group("VIP", 3)
        assert info.value.kind == kind
        assert info.value.maybe_applied is maybe
    assert len(responses.calls) == calls


@responses.activate
def test_put_is_idempotent_so_a_500_is_retried() -> None:
    queue(responses.PUT, WRITE_URL, reply(500, MASKED_500), reply(200))
    assert make().put_customer(7, {"id": 7, "group_id": 4}) == {"id": 7}
    assert len(responses.calls) == 2


def test_every_retried_kind_has_a_rule() -> None:
    assert set(RETRY_TABLE) == {"THROTTLED", "MAINTENANCE", "DEADLOCK", "GATEWAY", "SERVER_ERROR",
                                "CONNECTION", "TIMEOUT", "BAD_RESPONSE"}


# --- waits ------------------------------------------------------------------------------


@responses.activate
def test_429_honours_retry_after_seconds() -> None:
    policy, rec = recorded_policy()
    queue(responses.GET, URL, reply(429, {"message": "x"}, headers={"Retry-After": "7"}),
          reply(200))
    make(policy)._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps == [7.0]


@responses.activate
def test_429_honours_retry_after_as_http_date() -> None:
    policy, rec = recorded_policy()
    policy.wall_clock = lambda: 1_700_000_000.0
    when = email.utils.formatdate(1_700_000_000 + 42, usegmt=True)
    queue(responses.GET, URL, reply(429, {"message": "x"}, headers={"Retry-After": when}),
          reply(200))
    make(policy)._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps == [pytest.approx(42.0)]


@responses.activate
def test_429_without_retry_after_backs_off_with_jitter_in_0_to_base() -> None:
    policy, rec = recorded_policy()
    queue(responses.GET, URL, *[reply(429, {"message": "x"})] * 3, reply(200))
    make(policy)._get("/V1/customers/{customerId}", customerId=7)
    assert len(rec.sleeps) == 3
    assert 0 <= rec.sleeps[0] <= 2.0
    assert 0 <= rec.sleeps[1] <= 4.0
    assert 0 <= rec.sleeps[2] <= 8.0


@responses.activate
def test_maintenance_pauses_grow_to_the_cap_and_reset_on_success() -> None:
    """H3: HTML 503s without Retry-After pause 5, 10, 20 … 300 s; a success resets."""
    policy, rec = recorded_policy()
    queue(responses.GET, URL, *[reply(503, MAINTENANCE_PAGE, HTML)] * 8, reply(200),
          reply(503, MAINTENANCE_PAGE, HTML), reply(200))
    client = make(policy)
    client._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps == [5, 10, 20, 40, 80, 160, 300, 300]
    client._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps[-1] == 5


@responses.activate
def test_no_request_reaches_a_paused_store() -> None:
    """A maintenance page seen by one thread pauses every thread's requests."""
    rec = Recorder()
    policy = RetryPolicy(sleep=rec.sleep, clock=rec.clock)
    client = make(policy)
    client._gate.pause(30)
    queue(responses.GET, URL, reply(200))
    client._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps == [30]  # waited the pause out before sending


@responses.activate
def test_maintenance_honours_retry_after_when_given() -> None:
    policy, rec = recorded_policy()
    queue(responses.GET, URL, reply(503, MAINTENANCE_PAGE, HTML, {"Retry-After": "120"}),
          reply(200))
    make(policy)._get("/V1/customers/{customerId}", customerId=7)
    assert rec.sleeps == [120]


# --- error bodies ----------------------------------------------------------------------


def test_both_placeholder_forms_render() -> None:
    assert render("Signature method %1 is not supported", ["HMAC-SHA1"]) == \
        "Signature method HMAC-SHA1 is not supported"
    assert render("The %fieldName value is invalid. Set the correct value and try again.",
                  {"fieldName": "default_billing"}) == \
        "The default_billing value is invalid. Set the correct value and try again."
    assert render("%1 and %2 and %10", ["a", "b"]) == "a and b and %10"
    assert render("no params %1", None) == "no params %1"


@responses.activate
def test_error_carries_rendered_message_template_status_and_report_id() -> None:
    body = {"message": "Could not save customer %1: %reason",
            "parameters": {"reason": "x"},
            "errors": [{"message": "Field %1 is bad", "parameters": ["email"]}],
            "trace": "#0 /var/www/..."}
    queue(responses.GET, URL, reply(400, body))
    with pytest.raises(E.ContractError) as info:
        make()._get("/V1/customers/{customerId}", customerId=7)
    err = info.value
    assert err.template == "Could not save customer %1: %reason"
    assert err.message == "Could not save customer %1: x"
    assert err.errors == ["Field email is bad"]
    assert err.status == 400 and err.trace == "#0 /var/www/..."
    assert "Field email is bad" in str(err)


@responses.activate
def test_masked_500_report_id_is_extracted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    queue(responses.GET, URL, *[reply(500, MASKED_500)] * 4)
    caplog.set_level(logging.WARNING)
    with pytest.raises(E.ServerError) as info:
        make()._get("/V1/customers/{customerId}", customerId=7)
    assert info.value.report_id == "webapi-65f1a2b3c4d5e"
    assert "webapi-65f1a2b3c4d5e" in caplog.text


def test_fatal_shape_and_html_pages_parse() -> None:
    fatal = parse_error_body(json.dumps({"messages": {"error": [
        {"code": 500, "message": "Server internal error. See details in report api/998877"}]}}),
        JSON)
    assert fatal.report_id == "api/998877" and fatal.code == 500
    page = parse_error_body(MAINTENANCE_PAGE, HTML)
    assert not page.is_json and page.message == "Service Temporarily Unavailable"


@responses.activate
def test_classification_uses_the_template_not_the_rendered_text() -> None:
    """A 404 whose *rendered* text happens to read like the no-route phrase is still a 404."""
    body = {"message": "%1", "parameters": ["Request does not match any route."]}
    queue(responses.GET, URL, reply(404, body))
    with pytest.raises(E.NotFoundError):
        make()._get("/V1/customers/{customerId}", customerId=7)


@responses.activate
def test_route_missing_is_a_config_error() -> None:
    queue(responses.GET, URL, reply(404, NOT_FOUND_PAGE, HTML))
    with pytest.raises(E.RouteMissingError) as info:
        make()._get("/V1/customers/{customerId}", customerId=7)
    assert info.value.exit_code == 2


# --- secrets, read-only, pacing -------------------------------------------------------


@responses.activate
def test_no_secret_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    queue(responses.GET, URL, *[reply(500, MASKED_500)] * 4)
    with pytest.raises(E.ServerError) as info:
        make()._get("/V1/customers/{customerId}", customerId=7)
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__dict__)
    assert SECRET not in repr(make())


@responses.activate
def test_read_only_client_refuses_every_write_before_sending() -> None:
    client = MagentoClient(MagentoConfig(base_url=BASE, store_code="default"), read_only=True,
                           policy=RetryPolicy.fast(), auth=TokenAuth(SECRET))
    writes = [
        lambda: client.put_customer(7, {"id": 7, "group_id": 2}),
        lambda: client.create_customer_group("VIP", 3),
        lambda: client.create_cms_block({"identifier": "x"}, "all"),
        lambda: client.update_cms_block(3, {"identifier": "x"}, "default"),
        lambda: client.create_sales_rule({"name": "r", "website_ids": [1],
                                          "customer_group_ids": [4]}),
        lambda: client.update_sales_rule(2, {"name": "r", "website_ids": [1],
                                             "customer_group_ids": [4]}),
        lambda: client.create_coupon({"rule_id": 2, "code": "X"}),
    ]
    for write in writes:
        with pytest.raises(E.ReadOnlyError):
            write()
    assert len(responses.calls) == 0
    queue(responses.GET, URL, reply(200))
    assert client._get("/V1/customers/{customerId}", customerId=7) == {"id": 7}


def test_local_validation_refuses_what_magento_refuses() -> None:
    client = make()
    with pytest.raises(E.InvalidRequestError, match="website_ids"):
        client.create_sales_rule({"name": "r", "website_ids": [], "customer_group_ids": [1]})
    with pytest.raises(E.InvalidRequestError, match="32"):
        client.create_customer_group("x" * 33, 3)
    with pytest.raises(E.InvalidRequestError, match="differs"):
        client.put_customer(7, {"id": 8})


def test_rate_limiter_spaces_calls() -> None:
    rec = Recorder()
    limiter = RateLimiter(10, clock=rec.clock, sleep=lambda s: rec.sleeps.append(s))
    for _ in range(4):
        limiter.acquire()
    assert rec.sleeps == pytest.approx([0.1, 0.2, 0.3])
    assert RateLimiter(0).acquire() == 0.0


@responses.activate
def test_reads_and_writes_have_their_own_rate_limits() -> None:
    queue(responses.GET, URL, *[reply(200)] * 6)
    queue(responses.PUT, WRITE_URL, *[reply(200)] * 3)
    client = make(requests_per_second=50, writes_per_second=20)
    start = time.monotonic()
    for _ in range(6):
        client._get("/V1/customers/{customerId}", customerId=7)
    reads = time.monotonic() - start
    start = time.monotonic()
    for _ in range(3):
        client.put_customer(7, {"group_id": 1})
    writes = time.monotonic() - start
    assert reads >= 5 * 0.02 * 0.9
    assert writes >= 2 * 0.05 * 0.9


@responses.activate
def test_write_concurrency_is_a_semaphore() -> None:
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return 200, {"Content-Type": JSON}, json.dumps({"id": 7})

    responses.add_callback(responses.PUT, WRITE_URL, callback=slow)
    client = make(write_concurrency=2)
    threads = [threading.Thread(target=client.put_customer, args=(7, {"group_id": 1}))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(responses.calls) == 8
    assert state["max"] == 2


def test_stats_are_thread_safe() -> None:
    client = make()

    def bump() -> None:
        for _ in range(1000):
            client.stats.request("GET /x")
            client.stats.retry("THROTTLED", 0.0)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = client.stats.snapshot()
    assert snap["requests"] == 8000 and snap["retries"] == 8000
    assert snap["by_route"] == {"GET /x": 8000}


@responses.activate
def test_a_stop_request_ends_a_backoff_without_another_request() -> None:
    from bridge import shutdown

    queue(responses.GET, URL, reply(503, MAINTENANCE_PAGE, HTML), reply(200))
    client = make(RetryPolicy())  # the real, interruptible sleep: 5 s maintenance pause
    timer = threading.Timer(0.2, shutdown.request_stop, args=("by the test",))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(E.RetryInterrupted):
            client._get("/V1/customers/{customerId}", customerId=7)
    finally:
        timer.cancel()
        shutdown.reset()
    assert time.monotonic() - start < 3
    assert len(responses.calls) == 1
