"""searchCriteria builder and paginator (PITFALLS B1-B3, B7, C1), against `responses` mocks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from bridge.config import MagentoConfig
from bridge.magento.auth import TokenAuth
from bridge.magento.client import MagentoClient
from bridge.magento.errors import PageSizeLimitError
from bridge.magento.retry import RetryPolicy
from bridge.magento.search import Filter, SearchCriteria, format_value

BASE = "http://magento.test"
SEARCH = f"{BASE}/rest/default/V1/customers/search"


def make_client(**cfg: object) -> MagentoClient:
    values: dict[str, object] = {"base_url": BASE, "store_code": "default", "concurrency": 1}
    values.update(cfg)
    return MagentoClient(MagentoConfig(**values), policy=RetryPolicy.fast(),  # type: ignore[arg-type]
                         auth=TokenAuth("t0ken"))


def query(request: object) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))  # type: ignore[attr-defined]


class FakeStore:
    """A list route over ``n`` customers with Magento 2.4 (empty past the end) or 2.3 paging."""

    def __init__(self, n: int, *, repeat_last_page: bool = False, max_page_size: int = 0,
                 delay: float = 0.0) -> None:
        self.ids = list(range(1, n + 1))
        self.repeat_last_page = repeat_last_page
        self.max_page_size = max_page_size
        self.delay = delay
        self.requests: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, request: object) -> tuple[int, dict[str, str], str]:
        import json

        q = query(request)
        with self.lock:
            self.requests.append(q)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            size = int(q["searchCriteria[pageSize]"])
            page = int(q["searchCriteria[currentPage]"])
            if self.max_page_size and size > self.max_page_size:
                body = {"message": "Maximum SearchCriteria pageSize is %max",
                        "parameters": {"max": self.max_page_size}}
                return 400, {"Content-Type": "application/json"}, json.dumps(body)
            last = max(1, -(-len(self.ids) // size))
            if self.repeat_last_page and page > last:
                page = last
            chunk = self.ids[(page - 1) * size: page * size]
            items = [{"id": i, "email": f"c{i}@example.com"} for i in chunk]
            body2 = {"items": items, "total_count": len(self.ids),
                     "search_criteria": {"current_page": page}}
            return 200, {"Content-Type": "application/json"}, json.dumps(body2)
        finally:
            with self.lock:
                self.in_flight -= 1


# --- builder --------------------------------------------------------------------------------


def test_filter_groups_sorts_and_paging_render_to_magento_syntax() -> None:
    sc = (
        SearchCriteria()
        .where("updated_at", "gteq", "2025-01-01 00:00:00")
        .where_any(("email", "like", "%@example.com"), ("group_id", "in", [1, 2, 3]))
        .where("website_id", 1)
        .order_by("updated_at", "asc")
    )
    assert sc.to_params(page_size=100, current_page=1) == [
        ("searchCriteria[filter_groups][0][filters][0][field]", "updated_at"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "2025-01-01 00:00:00"),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "gteq"),
        ("searchCriteria[filter_groups][1][filters][0][field]", "email"),
        ("searchCriteria[filter_groups][1][filters][0][value]", "%@example.com"),
        ("searchCriteria[filter_groups][1][filters][0][condition_type]", "like"),
        ("searchCriteria[filter_groups][1][filters][1][field]", "group_id"),
        ("searchCriteria[filter_groups][1][filters][1][value]", "1,2,3"),
        ("searchCriteria[filter_groups][1][filters][1][condition_type]", "in"),
        ("searchCriteria[filter_groups][2][filters][0][field]", "website_id"),
        ("searchCriteria[filter_groups][2][filters][0][value]", "1"),
        ("searchCriteria[filter_groups][2][filters][0][condition_type]", "eq"),
        ("searchCriteria[sortOrders][0][field]", "updated_at"),
        ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ("searchCriteria[pageSize]", "100"),
        ("searchCriteria[currentPage]", "1"),
    ]


def test_criteria_are_immutable_and_shareable() -> None:
    base = SearchCriteria().where("group_id", 1)
    a = base.order_by("entity_id", "ASC")
    assert base.sort_orders == ()
    assert len(a.sort_orders) == 1
    assert base.with_tiebreaker("entity_id") is not base
    assert a.with_tiebreaker("entity_id") is a  # already total: not sorted twice


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # B5: an aware watermark becomes naive UTC
        (datetime(2024, 3, 31, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2024-03-30 23:30:00"),
        (datetime(2024, 3, 30, 23, 30, 5), "2024-03-30 23:30:05"),
        (datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01 00:00:00"),
        (True, "1"),
        (False, "0"),
        ([5, 6], "5,6"),
        (7, "7"),
    ],
)
def test_values_are_formatted_as_magento_expects(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_null_and_notnull_send_a_dummy_value() -> None:
    params = dict(SearchCriteria().where("dob", "null", None).where("x", "notnull", None)
                  .to_params())
    assert params["searchCriteria[filter_groups][0][filters][0][value]"] == "1"
    assert params["searchCriteria[filter_groups][1][filters][0][condition_type]"] == "notnull"


@pytest.mark.parametrize("cond", ["eq", "neq", "gt", "gteq", "lt", "lteq", "like", "in", "nin",
                                  "null", "notnull", "from", "to", "finset"])
def test_every_condition_type_is_accepted(cond: str) -> None:
    params = dict(SearchCriteria().where("f", cond, "v").to_params())
    assert params["searchCriteria[filter_groups][0][filters][0][condition_type]"] == cond


def test_bad_conditions_and_sorts_are_refused() -> None:
    with pytest.raises(ValueError, match="condition_type"):
        Filter("f", 1, "between")
    with pytest.raises(ValueError, match="ASC or DESC"):
        SearchCriteria().order_by("entity_id", "up")
    with pytest.raises(ValueError, match="letters"):
        SearchCriteria().order_by("entity_id; drop", "ASC")
    with pytest.raises(ValueError, match="1-based"):
        SearchCriteria().to_params(page_size=10, current_page=0)


def test_fields_are_wrapped_in_items_with_total_count() -> None:
    params = dict(SearchCriteria().fields("id", "email").to_params())
    assert params["fields"] == "items[id,email],total_count"


# --- paginator ------------------------------------------------------------------------------


@responses.activate
def test_query_string_reaches_magento_with_brackets_intact() -> None:
    store = FakeStore(3)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client()
    sc = SearchCriteria().where("email", "like", "%a+b@x%").fields("email")
    list(client.search_customers(sc))
    q = store.requests[0]
    assert q["searchCriteria[filter_groups][0][filters][0][value]"] == "%a+b@x%"
    assert q["fields"] == "items[email,id],total_count"  # the id is added for the paginator
    assert q["searchCriteria[sortOrders][0][field]"] == "entity_id"
    assert q["searchCriteria[sortOrders][0][direction]"] == "ASC"


@responses.activate
def test_same_three_items_forever_cost_exactly_two_requests() -> None:
    """PITFALLS B1's test: total_count=3, pageSize=2, the mock always answers the same 3."""
    items = [{"id": 1}, {"id": 2}, {"id": 3}]
    responses.add(responses.GET, SEARCH, json={"items": items, "total_count": 3})
    client = make_client()
    pages = list(client.search_customers(page_size=2).pages())
    assert len(responses.calls) == 2
    assert len(pages) == 1  # page 2 repeated page 1 and was dropped
    assert client.stats.requests == 2


@pytest.mark.parametrize("repeat", [False, True])
@pytest.mark.parametrize("concurrency", [1, 4])
@responses.activate
def test_every_record_once_and_never_past_the_last_page(repeat: bool, concurrency: int) -> None:
    store = FakeStore(1050, repeat_last_page=repeat)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client(concurrency=concurrency)
    ids = [c["id"] for c in client.search_customers(SearchCriteria().order_by("updated_at", "ASC"))]
    assert ids == list(range(1, 1051))
    assert len(store.requests) == 11  # ceil(1050/100), nothing past it
    pages = sorted(int(q["searchCriteria[currentPage]"]) for q in store.requests)
    assert pages == list(range(1, 12))
    for q in store.requests:  # B2, B3: size, 1-based page, two sort orders always sent
        assert q["searchCriteria[pageSize]"] == "100"
        assert int(q["searchCriteria[currentPage]"]) >= 1
        assert q["searchCriteria[sortOrders][0][field]"] == "updated_at"
        assert q["searchCriteria[sortOrders][1][field]"] == "entity_id"
        assert q["searchCriteria[sortOrders][1][direction]"] == "ASC"


@responses.activate
def test_empty_result_costs_one_request() -> None:
    responses.add(responses.GET, SEARCH, json={"items": [], "total_count": 0})
    assert list(make_client().search_customers()) == []
    assert len(responses.calls) == 1


@responses.activate
def test_a_repeated_page_stops_paging() -> None:
    """2.3 clamping seen mid-run (the set shrank): page 3 repeats page 2 -> stop there."""
    page_items = {1: [1, 2], 2: [3, 4], 3: [3, 4], 4: [7, 8]}

    def cb(request: object) -> tuple[int, dict[str, str], str]:
        import json

        n = int(query(request)["searchCriteria[currentPage]"])
        body = {"items": [{"id": i} for i in page_items[n]], "total_count": 8}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, SEARCH, callback=cb)
    pag = make_client().search_customers(page_size=2)
    assert [c["id"] for c in pag] == [1, 2, 3, 4]
    assert pag.stats.stopped == "repeat"
    assert len(responses.calls) == 3


@responses.activate
def test_a_short_page_before_the_last_ends_paging() -> None:
    page_items = {1: [1, 2], 2: [3], 3: [], 4: []}

    def cb(request: object) -> tuple[int, dict[str, str], str]:
        import json

        n = int(query(request)["searchCriteria[currentPage]"])
        body = {"items": [{"id": i} for i in page_items[n]], "total_count": 8}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, SEARCH, callback=cb)
    pag = make_client().search_customers(page_size=2)
    assert [c["id"] for c in pag] == [1, 2, 3]
    assert pag.stats.stopped == "short"
    assert len(responses.calls) == 2


@responses.activate
def test_page_size_limit_is_learnt_once_and_remembered() -> None:
    """C1: the store rejects 100 with N=50: one retry at 50, limit exposed as 50."""
    store = FakeStore(120, max_page_size=50)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client()
    assert client.page_size_limit is None
    ids = [c["id"] for c in client.search_customers()]
    assert ids == list(range(1, 121))
    sizes = [q["searchCriteria[pageSize]"] for q in store.requests]
    assert sizes == ["100", "50", "50", "50"]
    assert client.page_size_limit == 50
    store.requests.clear()
    page = client.fetch_page("customers", page_size=100)  # remembered: no failing request
    assert [q["searchCriteria[pageSize]"] for q in store.requests] == ["50"]
    assert page.page_size == 50 and page.total_count == 120 and len(page.items) == 50
    # A client told the persisted limit starts with it.
    store.requests.clear()
    again = MagentoClient(client.cfg, policy=RetryPolicy.fast(), auth=TokenAuth("x"),
                          page_size_limit=50)
    again.fetch_page("customers")
    assert [q["searchCriteria[pageSize]"] for q in store.requests] == ["50"]


@responses.activate
def test_page_size_limit_adapts_only_once() -> None:
    import json

    def cb(request: object) -> tuple[int, dict[str, str], str]:
        size = int(query(request)["searchCriteria[pageSize]"])
        body = {"message": "Maximum SearchCriteria pageSize is %max",
                "parameters": {"max": size - 1}}
        return 400, {"Content-Type": "application/json"}, json.dumps(body)

    responses.add_callback(responses.GET, SEARCH, callback=cb)
    with pytest.raises(PageSizeLimitError) as info:
        list(make_client().search_customers())
    assert info.value.limit == 98
    assert len(responses.calls) == 2


@responses.activate
def test_single_page_fetch_for_keyset_paging() -> None:
    store = FakeStore(250)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client()
    sc = SearchCriteria().where("updated_at", "gteq", "2025-01-01 00:00:00")
    page = client.search_customers(sc, page_size=30).page(1)
    assert page.number == 1 and page.page_size == 30 and page.total_count == 250
    assert page.ids() == list(range(1, 31))
    assert page.last_page == 9
    assert len(store.requests) == 1
    assert store.requests[0]["searchCriteria[currentPage]"] == "1"


@responses.activate
def test_remaining_pages_are_fetched_in_parallel_and_yielded_in_order() -> None:
    store = FakeStore(1000, delay=0.03)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client(concurrency=4)
    numbers = [p.number for p in client.search_customers().pages()]
    assert numbers == list(range(1, 11))
    assert store.max_in_flight == 4  # concurrency honoured, and not exceeded
    assert client.stats.requests == 10


def test_page_size_bounds_are_enforced() -> None:
    client = make_client()
    with pytest.raises(ValueError, match="between 1 and 300"):
        client.search_customers(page_size=0)
    assert client.search_customers(page_size=1000).page_size == 300


def _failing_store(n: int, bad_id: int, min_failing_size: int) -> FakeStore:
    """Answers masked 500s for any page holding ``bad_id`` with more than that many items."""
    import json

    store = FakeStore(n)

    def cb(request: object) -> tuple[int, dict[str, str], str]:
        q = query(request)
        size = int(q["searchCriteria[pageSize]"])
        page = int(q["searchCriteria[currentPage]"])
        if (page - 1) * size < bad_id <= page * size and size > min_failing_size:
            store.requests.append(q)
            body = {"message": "Internal Error. Details are available in Magento log file. "
                               "Report ID: webapi-abc"}
            return 500, {"Content-Type": "application/json"}, json.dumps(body)
        return store(request)

    store.callback = cb  # type: ignore[attr-defined]
    return store


@responses.activate
def test_a_page_that_keeps_failing_is_bisected_and_nothing_is_lost() -> None:
    """B6: 500 for the page holding id 42 (while pages are larger than 5 items)."""
    store = _failing_store(230, 42, 5)
    responses.add_callback(responses.GET, SEARCH, callback=store.callback)  # type: ignore[attr-defined]
    client = make_client()
    pag = client.search_customers()
    ids = [c["id"] for c in pag]
    assert ids == list(range(1, 231))
    assert pag.stats.requests == 3  # the page loop itself never went past the last page
    assert pag.stats.bisect_requests > 0
    # The failing page was fetched as 50+50, then 25+25, then 5×5 around id 42.
    sizes = [q["searchCriteria[pageSize]"] for q in store.requests]
    assert "5" in sizes and "1" not in sizes


@responses.activate
def test_a_record_that_never_reads_raises_instead_of_being_skipped() -> None:
    store = _failing_store(30, 17, 0)
    responses.add_callback(responses.GET, SEARCH, callback=store.callback)  # type: ignore[attr-defined]
    from bridge.magento.errors import ServerError

    with pytest.raises(ServerError) as info:
        list(make_client().search_customers(page_size=10))
    assert info.value.report_id == "webapi-abc"


@responses.activate
def test_criteria_page_size_and_entity_page_helpers() -> None:
    store = FakeStore(12)
    responses.add_callback(responses.GET, SEARCH, callback=store)
    client = make_client()
    page = client.search_customers_page(SearchCriteria().page_size(5))
    assert (page.page_size, page.total_count, page.ids()) == (5, 12, [1, 2, 3, 4, 5])
    page = client.search_customers_page(SearchCriteria().page_size(5), page=3, page_size=4)
    assert page.ids() == [9, 10, 11, 12]
    assert [q["searchCriteria[pageSize]"] for q in store.requests] == ["5", "4"]
    with pytest.raises(ValueError):
        SearchCriteria().page_size(301)


@responses.activate
def test_bisecting_the_last_page_never_asks_past_the_end() -> None:
    """2.3 repeats the last page past the end: a bisected last page must not duplicate."""
    import json

    store = FakeStore(250, repeat_last_page=True)

    def cb(request: object) -> tuple[int, dict[str, str], str]:
        q = query(request)
        if q["searchCriteria[pageSize]"] == "100" and q["searchCriteria[currentPage]"] == "3":
            store.requests.append(q)
            return 500, {"Content-Type": "application/json"}, json.dumps({"message": "boom"})
        return store(request)

    responses.add_callback(responses.GET, SEARCH, callback=cb)
    ids = [c["id"] for c in make_client().search_customers()]
    assert ids == list(range(1, 251))
    asked = [(q["searchCriteria[pageSize]"], q["searchCriteria[currentPage]"])
             for q in store.requests]
    assert ("50", "6") not in asked  # offsets 250..299 do not exist
