"""Typed calls for the REST routes of segbridge's storefront module (``magento-module/``).

Core Open Source REST has no bulk group change, no catalog price rules and no wishlist or
viewed-product lists; the module adds them (docs/push.md). Everything here goes
through ``MagentoClient`` (auth, retries, rate limits, typed errors) and its paginator:

- ``module_info(client)``: the module's version and parts, or None when the store has no
  such route (the module is not installed);
- ``assign_groups(client, assignments)``: compare-and-set group changes, sent 1,000 a
  request;
- ``get_catalog_rule`` / ``create_catalog_rule`` / ``update_catalog_rule`` /
  ``search_catalog_rules`` / ``apply_catalog_rules``;
- ``wishlist_items(client)`` / ``product_views(client)``: every row once, by keyset on
  (``added_at``, id), from a stored position onwards.

Writes go to ``/rest/all`` as every segbridge write does; reads to the configured store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from bridge.errors import SegbridgeError
from bridge.magento.client import ADMIN_STORE, MagentoClient
from bridge.magento.errors import (
    AuthError,
    ContractError,
    InvalidRequestError,
    MagentoError,
    RouteMissingError,
)
from bridge.magento.search import Endpoint, SearchCriteria
from bridge.sync.keyset import Stream, after_key

MODULE = "Segbridge_SegmentBlock"
ACL_RESOURCE = "Segbridge_SegmentBlock::api"
MAX_GROUP_ASSIGNMENTS = 1000  # the module refuses larger requests
ACTIONS = ("by_percent", "by_fixed", "to_percent", "to_fixed")

INFO = "/V1/segbridge/info"
GROUP_ASSIGNMENTS = "/V1/segbridge/groupAssignments"
CATALOG_RULE = "/V1/segbridge/catalogRules/{ruleId}"
CATALOG_RULES = "/V1/segbridge/catalogRules"
CATALOG_RULES_APPLY = "/V1/segbridge/catalogRules/apply"

CATALOG_RULES_LIST = Endpoint("catalog_rules", "/V1/segbridge/catalogRules/search",
                              "rule_id", "rule_id")
WISHLIST_ITEMS = Endpoint("wishlist_items", "/V1/segbridge/wishlistItems", "id", "id")
PRODUCT_VIEWS = Endpoint("product_views", "/V1/segbridge/productViews", "id", "id")

Status = Literal["applied", "changed_meanwhile", "not_found"]
STATUSES: tuple[str, ...] = ("applied", "changed_meanwhile", "not_found")
ActivityKey = tuple[str, int]  # (added_at "YYYY-MM-DD HH:MM:SS" UTC, id)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_FEATURE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class ModuleAnswerError(MagentoError):
    """An answer of a module route that is not what the module answers (wrong shape, not
    one result per assignment, keys out of order): the store runs something else."""

    kind = "MODULE_ANSWER"


class ModuleNotGrantedError(AuthError):
    """The store has the module, but these credentials lack its ACL resource."""

    kind = "MODULE_NOT_GRANTED"


def _bad(route: str, what: str) -> ModuleAnswerError:
    return ModuleAnswerError(f"{route}: {what}", route=route)


def _shown(value: Any) -> str:
    """A value from an answer, as an error line shows it: escaped (repr) and cut short, so
    a hostile answer can neither forge lines nor flood the log."""
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _int(data: dict[str, Any], key: str, route: str, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if type(value) is not int:
        raise _bad(route, f"{key} is {_shown(value)}, not a whole number")
    return value


# --- GET /V1/segbridge/info --------------------------------------------------------


@dataclass(frozen=True)
class ModuleInfo:
    """What ``GET /V1/segbridge/info`` says: the module's version and the parts on."""

    module: str
    version: str
    features: frozenset[str]
    max_group_assignments: int
    product_views_recorded: bool

    def has(self, feature: str) -> bool:
        """``group_assignments``, ``session_refresh``, ``catalog_rules``,
        ``wishlist_items`` or ``product_views``."""
        return feature in self.features

    @classmethod
    def from_json(cls, data: Any) -> ModuleInfo:
        route = f"GET {INFO}"
        if not isinstance(data, dict):
            raise _bad(route, "the answer is not an object")
        version = data.get("version")
        features = data.get("features")
        recorded = data.get("product_views_recorded")
        if data.get("module") != MODULE or not isinstance(version, str) \
                or not re.fullmatch(r"[0-9]{1,9}\.[0-9]{1,9}\.[0-9]{1,9}", version):
            raise _bad(route, f"module {_shown(data.get('module'))} version {_shown(version)} "
                              f"is not "
                              f"{MODULE} with a version x.y.z")
        # names as the module spells them (group_assignments, …): shown in check's line
        # and the push log, so nothing else (control characters, 100 KB) gets through
        if not isinstance(features, list) or not all(
                isinstance(f, str) and _FEATURE.fullmatch(f) for f in features):
            raise _bad(route, "features is not a list of names")
        if not isinstance(recorded, bool):
            raise _bad(route, "product_views_recorded is not true or false")
        size = _int(data, "max_group_assignments", route)
        if size < 1:
            raise _bad(route, f"max_group_assignments is {size}")
        return cls(MODULE, version, frozenset(features), size, recorded)


def module_info(client: MagentoClient) -> ModuleInfo | None:
    """The module's version and parts; None when the store has no such route (a Magento
    without the module answers 404 "Request does not match any route.").

    A 401 or JSON 403 on the route means the module is installed (Magento matches the
    route before it checks the ACL) but these credentials were not granted
    ``Segbridge_SegmentBlock::api``: ``ModuleNotGrantedError`` says so. A client that has
    not had a request accepted yet first makes one cheap read (the websites), so that a
    401 here is never taken for refused credentials (the client would then refuse every
    later request of the run).
    """
    if not getattr(client, "_accepted", True):
        client._get("/V1/store/websites", ADMIN_STORE)
    try:
        # /rest/all always exists: a "no route" answer there can only mean the route
        # (where a wrong store_code would also give it on /rest/{store_code})
        data = client._get(INFO, ADMIN_STORE)
    except RouteMissingError as exc:
        if exc.is_json:
            return None
        raise  # an HTML 404: base_url itself is wrong
    except (AuthError, ContractError) as exc:
        denied = isinstance(exc, AuthError) and not getattr(exc, "fatal", False) \
            or exc.status == 403 and exc.is_json
        if denied or ACL_RESOURCE in str(exc.parameters or ""):
            raise ModuleNotGrantedError(
                f"the store has segbridge's storefront module, but these credentials lack "
                f"its ACL resource {ACL_RESOURCE} (HTTP {exc.status} on GET {INFO}): grant "
                "it to the integration or admin role (see docs/push.md)",
                template=exc.template, parameters=exc.parameters, status=exc.status,
                method=exc.method, url=exc.url, route=exc.route,
            ) from None
        raise
    return ModuleInfo.from_json(data)


# --- POST /V1/segbridge/groupAssignments ----------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """Move ``customer_id`` to ``to_group_id`` if it is still in ``from_group_id``."""

    customer_id: int
    from_group_id: int
    to_group_id: int


@dataclass(frozen=True)
class AssignmentResult:
    """One customer's outcome: ``applied`` (``group_id`` is the new group),
    ``changed_meanwhile`` (nothing written; ``group_id`` is the group found) or
    ``not_found`` (no such customer; ``group_id`` None)."""

    customer_id: int
    status: Status
    group_id: int | None = None

    @property
    def applied(self) -> bool:
        return self.status == "applied"


class AssignmentsInterrupted(SegbridgeError):
    """A request of ``assign_groups`` failed after earlier ones were applied.

    ``results`` are the outcomes of the requests that were answered (in order),
    ``unsent`` the assignments not known to be done, ``cause`` the error. When
    ``cause.maybe_applied``, the failed request may have been applied: sending
    ``unsent`` again is safe (compare-and-set), and a customer it already moved then
    comes back ``changed_meanwhile`` with ``group_id`` equal to its target.
    """

    def __init__(self, results: list[AssignmentResult], unsent: list[Assignment],
                 cause: MagentoError, sent: int) -> None:
        self.results = results
        self.unsent = unsent
        self.cause = cause
        self.exit_code = cause.exit_code
        done = len(results)
        super().__init__(
            f"group assignments stopped after {done} of {done + len(unsent)} customers; the "
            f"request with assignments {done + 1} to {done + sent} failed (the store counts "
            f"them from 0): {cause}"
            + (" (it may have been applied; sending it again is safe)"
               if cause.maybe_applied else ""))


def _check_assignments(items: list[Assignment]) -> None:
    """Refuse before sending anything what the module would refuse in some request."""
    seen: dict[int, int] = {}
    route = f"POST {GROUP_ASSIGNMENTS}"
    for n, a in enumerate(items):
        problem = None
        if type(a.customer_id) is not int or a.customer_id < 1:
            problem = f"customer_id {a.customer_id!r} is not a whole number of at least 1"
        elif type(a.from_group_id) is not int or a.from_group_id < 0:
            problem = f"from_group_id {a.from_group_id!r} is not a whole number of at least 0"
        elif type(a.to_group_id) is not int or a.to_group_id < 1:
            problem = (f"to_group_id {a.to_group_id!r} is not a customer group a customer "
                       "can be in (a whole number of at least 1; 0 is NOT LOGGED IN)")
        elif a.customer_id in seen:
            problem = (f"customer {a.customer_id} is also assignment {seen[a.customer_id] + 1}"
                       "; give one assignment per customer")
        if problem:
            raise InvalidRequestError(f"group assignment {n + 1}: {problem}; nothing was sent",
                                      method="POST", route=route)
        seen[a.customer_id] = n


def _results(data: Any, chunk: list[Assignment]) -> list[AssignmentResult]:
    route = f"POST {GROUP_ASSIGNMENTS}"
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != len(chunk):
        raise _bad(route, f"the answer does not list one result for each of the "
                          f"{len(chunk)} assignments sent")
    out = []
    for a, r in zip(chunk, results, strict=True):
        # type() first: True == 1 and 1.0 == 1 in Python, and neither is the module's id
        if not isinstance(r, dict) or type(r.get("customer_id")) is not int \
                or r["customer_id"] != a.customer_id or r.get("status") not in STATUSES:
            raise _bad(route, f"the result for customer {a.customer_id} is {_shown(r)}")
        group = _int(r, "group_id", route, optional=r["status"] == "not_found")
        status: Status = r["status"]
        out.append(AssignmentResult(a.customer_id, status, group))
    return out


def assign_groups(client: MagentoClient, assignments: Iterable[Assignment], *,
                  chunk_size: int = MAX_GROUP_ASSIGNMENTS) -> list[AssignmentResult]:
    """Compare-and-set group changes, ``chunk_size`` (at most 1,000) a request; one result
    per assignment, in order. Every assignment is checked before the first request (a bad
    one raises ``InvalidRequestError``, nothing sent); a request failing after others
    were applied raises ``AssignmentsInterrupted`` with what was done."""
    if not 1 <= chunk_size <= MAX_GROUP_ASSIGNMENTS:
        raise ValueError(f"chunk_size must be 1 to {MAX_GROUP_ASSIGNMENTS}, not {chunk_size}")
    items = list(assignments)
    _check_assignments(items)
    results: list[AssignmentResult] = []
    for start in range(0, len(items), chunk_size):
        chunk = items[start:start + chunk_size]
        body = {"assignments": [{"customer_id": a.customer_id, "from_group_id": a.from_group_id,
                                 "to_group_id": a.to_group_id} for a in chunk]}
        try:
            data = client._write("POST", GROUP_ASSIGNMENTS, body)
        except MagentoError as exc:
            if not results:
                raise
            raise AssignmentsInterrupted(results, items[start:], exc, len(chunk)) from exc
        results.extend(_results(data, chunk))
    return results


# --- catalog price rules -----------------------------------------------------------


@dataclass(frozen=True)
class CatalogRule:
    """A catalog price rule as the module's routes carry it. ``skus`` empty: every
    product; ``has_other_conditions``: conditions made in the admin that are more than a
    SKU list (read only; an update replaces them with ``skus``)."""

    name: str
    website_ids: tuple[int, ...]
    customer_group_ids: tuple[int, ...]
    simple_action: str
    discount_amount: float
    rule_id: int | None = None
    description: str | None = None
    is_active: bool = False
    from_date: date | None = None
    to_date: date | None = None
    stop_rules_processing: bool = False
    sort_order: int = 0
    skus: tuple[str, ...] = ()
    has_other_conditions: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The request body's ``rule`` (nulls left out)."""
        out: dict[str, Any] = {
            "name": self.name, "is_active": self.is_active,
            "website_ids": list(self.website_ids),
            "customer_group_ids": list(self.customer_group_ids),
            "simple_action": self.simple_action, "discount_amount": self.discount_amount,
            "stop_rules_processing": self.stop_rules_processing,
            "sort_order": self.sort_order, "skus": list(self.skus),
        }
        if self.rule_id is not None:
            out["rule_id"] = self.rule_id
        if self.description is not None:
            out["description"] = self.description
        if self.from_date is not None:
            out["from_date"] = self.from_date.isoformat()
        if self.to_date is not None:
            out["to_date"] = self.to_date.isoformat()
        return out

    @classmethod
    def from_json(cls, data: Any, route: str) -> CatalogRule:
        if not isinstance(data, dict):
            raise _bad(route, "the rule is not an object")
        try:
            return cls(
                name=str(data["name"]),
                website_ids=tuple(int(i) for i in data["website_ids"]),
                customer_group_ids=tuple(int(i) for i in data["customer_group_ids"]),
                simple_action=str(data["simple_action"]),
                discount_amount=float(data["discount_amount"]),
                rule_id=int(data["rule_id"]),
                description=data.get("description"),
                is_active=bool(data["is_active"]),
                from_date=date.fromisoformat(data["from_date"]) if data.get("from_date")
                else None,
                to_date=date.fromisoformat(data["to_date"]) if data.get("to_date") else None,
                stop_rules_processing=bool(data["stop_rules_processing"]),
                sort_order=int(data["sort_order"]),
                skus=tuple(str(s) for s in data["skus"]),
                has_other_conditions=bool(data["has_other_conditions"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(route, f"the rule {_shown(data.get('rule_id'))} is not a catalog rule "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None


def _check_rule(rule: CatalogRule, route: str) -> None:
    """Refuse locally what the module refuses, naming the rule."""
    problems = []
    if not rule.name.strip() or len(rule.name.strip().encode()) > 255:
        problems.append("name must be 1 to 255 characters")
    if not rule.website_ids or any(i < 1 for i in rule.website_ids):
        problems.append("website_ids must list website ids (1 or more)")
    if not rule.customer_group_ids or any(i < 0 for i in rule.customer_group_ids):
        problems.append("customer_group_ids must list customer group ids")
    if rule.simple_action not in ACTIONS:
        problems.append(f"simple_action {rule.simple_action!r} is not one of "
                        f"{', '.join(ACTIONS)}")
    elif rule.discount_amount < 0 or (rule.simple_action in ("by_percent", "to_percent")
                                      and rule.discount_amount > 100):
        problems.append(f"discount_amount {rule.discount_amount} is out of range")
    if rule.from_date and rule.to_date and rule.to_date < rule.from_date:
        problems.append("to_date is before from_date")
    bad = [s for s in rule.skus if not s.strip() or "," in s or ";" in s]
    if bad:
        problems.append(f"SKUs {bad!r} are empty or hold ',' or ';' (Magento splits on them)")
    if rule.sort_order < 0:
        problems.append("sort_order must be 0 or more")
    if problems:
        raise InvalidRequestError(f"catalog price rule {rule.name!r}: " + "; ".join(problems),
                                  method=route.split()[0], route=route)


def get_catalog_rule(client: MagentoClient, rule_id: int) -> CatalogRule:
    """One rule; ``NotFoundError`` when there is none with this id."""
    return CatalogRule.from_json(client._get(CATALOG_RULE, ruleId=int(rule_id)),
                                 f"GET {CATALOG_RULE}")


def create_catalog_rule(client: MagentoClient, rule: CatalogRule) -> CatalogRule:
    """``POST /rest/all/V1/segbridge/catalogRules``; answers the rule as stored."""
    route = f"POST {CATALOG_RULES}"
    if rule.rule_id is not None:
        raise InvalidRequestError(f"catalog price rule {rule.name!r} already has id "
                                  f"{rule.rule_id}: update it instead", method="POST",
                                  route=route)
    _check_rule(rule, route)
    return CatalogRule.from_json(client._write("POST", CATALOG_RULES, {"rule": rule.to_json()}),
                                 route)


def update_catalog_rule(client: MagentoClient, rule: CatalogRule) -> CatalogRule:
    """``PUT`` every writable field of ``rule`` (read it first: read-modify-write)."""
    route = f"PUT {CATALOG_RULE}"
    if rule.rule_id is None:
        raise InvalidRequestError(f"catalog price rule {rule.name!r} has no id: create it "
                                  "instead", method="PUT", route=route)
    _check_rule(rule, route)
    return CatalogRule.from_json(
        client._write("PUT", CATALOG_RULE, {"rule": rule.to_json()}, ruleId=rule.rule_id),
        route)


def search_catalog_rules(client: MagentoClient, criteria: SearchCriteria | None = None, *,
                         page_size: int | None = None) -> Iterator[CatalogRule]:
    """Every rule matching ``criteria``, by rule_id (filters: rule_id, name, description,
    is_active, from_date, to_date, simple_action, sort_order)."""
    route = f"GET {CATALOG_RULES_LIST.path}"
    crit = (criteria or SearchCriteria()).with_tiebreaker("rule_id")
    for item in client.paginator(CATALOG_RULES_LIST, crit, page_size=page_size):
        yield CatalogRule.from_json(item, route)


def apply_catalog_rules(client: MagentoClient) -> None:
    """The admin's "Apply Rules": Magento's indexer cron then rebuilds rule prices."""
    answer = client._write("POST", CATALOG_RULES_APPLY, None)
    if answer is not True:
        raise _bad(f"POST {CATALOG_RULES_APPLY}", f"the answer is {_shown(answer)}, not true")


# --- wishlist items and viewed products -------------------------------------------------


@dataclass(frozen=True)
class ActivityItem:
    """A wishlist item or a viewed product (``sku``, ``name``, ``price`` None when the
    product is gone or has none)."""

    id: int
    customer_id: int
    product_id: int
    added_at: str  # UTC, "YYYY-MM-DD HH:MM:SS"
    sku: str | None = None
    name: str | None = None
    price: float | None = None
    store_id: int | None = None

    @property
    def key(self) -> ActivityKey:
        """The keyset position: store the last one seen and pass it as ``after``."""
        return (self.added_at, self.id)

    @classmethod
    def from_json(cls, data: Any, route: str) -> ActivityItem:
        if not isinstance(data, dict):
            raise _bad(route, "an item is not an object")
        added = data.get("added_at")
        if not isinstance(added, str) or not _TIME.match(added):
            raise _bad(route, f"item {_shown(data.get('id'))}: added_at {_shown(added)} is "
                              "not a UTC time YYYY-MM-DD HH:MM:SS")
        price = data.get("price")
        return cls(_int(data, "id", route), _int(data, "customer_id", route),
                   _int(data, "product_id", route), added, data.get("sku"),
                   data.get("name"), None if price is None else float(price),
                   _int(data, "store_id", route, optional=True))


def _walk(client: MagentoClient, endpoint: Endpoint, after: ActivityKey | None,
          criteria: SearchCriteria | None, page_size: int | None,
          store_code: str | None) -> Iterator[ActivityItem]:
    """Keyset pages after the last (added_at, id) seen, as the sync pages customers
    (bridge/sync/keyset.py): no offsets, so rows added meanwhile are neither skipped nor
    seen twice; each answer's total_count says whether anything is left."""
    stream = Stream(endpoint.name, id_key="id", id_column="id", time_column="added_at")
    route = f"GET {endpoint.path}"
    base = criteria or SearchCriteria()
    key = after
    while True:
        crit = base if key is None else after_key(stream, base, key)
        crit = crit.order_by("added_at", "ASC").order_by("id", "ASC")
        page = client.paginator(endpoint, crit, page_size=page_size, store_code=store_code,
                                bisect=False).page(1)
        for raw in page.items:
            item = ActivityItem.from_json(raw, route)
            if key is not None and item.key <= key:
                raise _bad(route, f"item {item.id} at {item.added_at} is not after "
                                  f"{key[0]} / {key[1]}: the answer is not in keyset order")
            key = item.key
            yield item
        if not page.items or len(page.items) >= page.total_count:
            return


def wishlist_items(client: MagentoClient, *, after: ActivityKey | None = None,
                   criteria: SearchCriteria | None = None, page_size: int | None = None,
                   store_code: str | None = None) -> Iterator[ActivityItem]:
    """Every wishlist item after ``after`` (None: from the start), in (added_at, id)
    order; ``criteria`` may add filters on id, customer_id, product_id, store_id."""
    return _walk(client, WISHLIST_ITEMS, after, criteria, page_size, store_code)


def product_views(client: MagentoClient, *, after: ActivityKey | None = None,
                  criteria: SearchCriteria | None = None, page_size: int | None = None,
                  store_code: str | None = None) -> Iterator[ActivityItem]:
    """Every viewed-product row after ``after``, in (added_at, id) order. A repeat view
    moves a row's added_at forward and keeps its id: treat rows as upserts by id."""
    return _walk(client, PRODUCT_VIEWS, after, criteria, page_size, store_code)
