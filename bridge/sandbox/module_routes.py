"""The storefront module's REST routes (``magento-module/etc/webapi.xml``) in the sandbox.

Each handler answers what the module's PHP service answers (``magento-module/Model/``):
the same validation, in the same order, with the same messages and parameters; Magento's
own layer in front of the module (type conversion of the body, searchCriteria parsing,
the input limits) is the sandbox's, as for the core routes. Nulls are left out of the
answers as Magento's REST output leaves them out. With ``SandboxServer(module=False)``
none of these routes exists: they answer 404 "Request does not match any route." as a
store without the module does.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any

from bridge.sandbox.errors import NOT_SUPPORTED, ApiError, required
from bridge.sandbox.module_state import (
    MODULE_VERSION,
    ActivityRow,
    ActivityTable,
)
from bridge.sandbox.routes import Call, Route, match
from bridge.sandbox.search import Criteria, parse_criteria

ACL = "Segbridge_SegmentBlock::api"
MODULE = "Segbridge_SegmentBlock"
TYPE_INVALID = 'The "%value" value\'s type is invalid. The "%type" type was expected. ' \
               'Verify and try again.'
RULE_NOT_FOUND = 'The rule with the "%1" ID wasn\'t found. Verify the ID and try again.'
ACTIONS = ("by_percent", "by_fixed", "to_percent", "to_fixed")
MAX_PAGE_SIZE = 300  # SearchCriteriaSql::MAX_PAGE_SIZE
DEFAULT_PAGE_SIZE = 100  # SearchCriteriaSql::DEFAULT_PAGE_SIZE (input limits off)
UINT_MAX = 4294967295

# --- Magento's type conversion in front of the module ------------------------------------


def _int(value: Any) -> int | None:
    """An ``int`` parameter as Magento's type processor converts it (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ApiError(400, TYPE_INVALID, {"value": str(value).lower(), "type": "int"})
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ApiError(400, TYPE_INVALID, {"value": str(value), "type": "int"})


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ApiError(400, TYPE_INVALID, {"value": str(value), "type": "float"})


def _bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1) or value in ("0", "1", "true", "false", ""):
        return value in (1, "1", "true")
    raise ApiError(400, TYPE_INVALID, {"value": str(value), "type": "bool"})


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise ApiError(400, TYPE_INVALID, {"value": str(value), "type": "string"})


def _list(value: Any, convert: Callable[[Any], Any]) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ApiError(400, TYPE_INVALID, {"value": str(value), "type": "array"})
    return [convert(v) for v in value]


def _object(value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A data object of the request: every key must be one of its properties."""
    for k in value:
        if k not in allowed:
            raise ApiError(400, NOT_SUPPORTED, {"fieldName": k})
    return value


# --- GET /V1/segbridge/info -------------------------------------------------------------

def info(call: Call) -> Any:
    state = call.shop.module
    return {"module": MODULE, "version": MODULE_VERSION, "features": list(state.features),
            "max_group_assignments": state.max_group_assignments,
            "product_views_recorded": state.product_views_recorded
            and "product_views" in state.features}


# --- POST /V1/segbridge/groupAssignments -----------------------------------------------

ASSIGNMENT_KEYS = ("customer_id", "from_group_id", "to_group_id")


def _assignment_int(value: Any, index: int, name: str, minimum: int) -> int:
    """GroupAssignmentManagement::integer."""
    if value is None or value == "":
        raise ApiError(400, "assignments[%1].%2 is missing.", [index, name])
    if not isinstance(value, int) or value < minimum or value > UINT_MAX:
        raise ApiError(400, "assignments[%1].%2 must be a whole number of at least %3, got %4.",
                       [index, name, minimum, str(value)])
    return value


def group_assignments(call: Call) -> Any:
    """GroupAssignmentManagement::assign: validate everything, then compare-and-set."""
    body = call.body
    raw = body.get("assignments") if isinstance(body, dict) else None
    if raw is None:
        raise required("assignments")
    if not isinstance(raw, list):
        raise ApiError(400, TYPE_INVALID, {"value": str(raw), "type": "array"})
    items: list[dict[str, Any] | None] = []
    for item in raw:  # Magento builds the data objects first
        if not isinstance(item, dict):
            items.append(None)
            continue
        _object(item, ASSIGNMENT_KEYS)
        items.append({k: _int(item.get(k)) for k in ASSIGNMENT_KEYS})
    if not items:
        raise ApiError(400, '"assignments" is empty: send at least one assignment.')
    most = call.shop.module.max_group_assignments
    if len(items) > most:
        raise ApiError(400, '"assignments" has %1 items; at most %2 are accepted per request.',
                       [len(items), most])
    requests: list[tuple[int, int, int]] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(items):
        if item is None:
            raise ApiError(400, "assignments[%1] is not an assignment object.", [index])
        customer = _assignment_int(item["customer_id"], index, "customer_id", 1)
        source = _assignment_int(item["from_group_id"], index, "from_group_id", 0)
        target = _assignment_int(item["to_group_id"], index, "to_group_id", 0)
        if target == 0:
            raise ApiError(400, "assignments[%1].to_group_id is 0 (NOT LOGGED IN), which no "
                                "customer account can be in.", [index])
        if customer in seen:
            raise ApiError(400, "assignments[%1].customer_id %2 already appears in "
                                "assignments[%3]; send one assignment per customer.",
                           [index, customer, seen[customer]])
        seen[customer] = index
        requests.append((customer, source, target))
    shop = call.shop
    state = shop.module
    with shop.lock:
        for index, (_, _, target) in enumerate(requests):
            if target not in shop.groups:
                raise ApiError(400, "assignments[%1].to_group_id %2: no customer group has "
                                    "this id; nothing was changed.", [index, target])
        found = {cid: shop.customers.get(cid).group_id for cid, _, _ in requests
                 if cid in shop.customers}
        changed: list[int] = []
        for cid, source, target in requests:
            if found.get(cid) == source and source != target:
                # as a save does: the group, and updated_at stamped
                shop.update_customer(cid, group_id=target)
                changed.append(cid)
    warnings: list[str] = []
    if changed:
        if state.grid_reindex_fails:
            warnings.append(
                f"The customer grid was not reindexed for {len(changed)} changed customers "
                "(sandbox: reindex failure switched on); run bin/magento indexer:reindex "
                "customer_grid.")
        state.refresh_flags.update(changed)
    results: list[dict[str, Any]] = []
    counts = {"applied": 0, "changed_meanwhile": 0, "not_found": 0}
    done = set(changed)
    for cid, source, target in requests:
        if cid not in found:
            out: dict[str, Any] = {"customer_id": cid, "status": "not_found"}
        elif cid in done or (found[cid] == source and source == target):
            out = {"customer_id": cid, "status": "applied", "group_id": target}
        else:
            out = {"customer_id": cid, "status": "changed_meanwhile", "group_id": found[cid]}
        counts[out["status"]] += 1
        results.append(out)
    return {"results": results, **counts, "warnings": warnings}


# --- searchCriteria as the module's SearchCriteriaSql reads it ----------------------------

INT, TEXT, DATETIME, DATE = "int", "text", "datetime", "date"
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lteq": lambda a, b: a <= b,
}


class Cond:
    """One validated filter: field, condition type and its bound value(s)."""

    def __init__(self, field: str, kind: str, ctype: str, values: list[Any]) -> None:
        self.field = field
        self.kind = kind
        self.ctype = ctype
        self.values = values

    def test(self, value: Any) -> bool:
        if self.ctype == "null":
            return value is None
        if self.ctype == "notnull":
            return value is not None
        if value is None:  # SQL: a comparison with NULL is never true
            return False
        if self.kind == TEXT:
            value = str(value).casefold()
        if self.ctype in COMPARISONS:
            return COMPARISONS[self.ctype](value, self.values[0])
        if self.ctype == "in":
            return value in self.values
        if self.ctype == "nin":
            return value not in self.values
        return bool(self.values[0].fullmatch(value))  # like


def _like(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(out, re.S)


def _value(value: Any, kind: str, where: str) -> Any:
    """SearchCriteriaSql::value."""
    text = str(value).strip() if isinstance(value, str | int | float | bool) else ""
    if kind == INT and re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    if kind == DATETIME and re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?", text):
        return text + " 00:00:00" if len(text) == 10 else text
    if kind == DATE and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    if kind == TEXT and isinstance(value, str | int | float | bool):
        return str(value).casefold()
    expected = {INT: "a whole number",
                DATETIME: 'a date "YYYY-MM-DD" or date and time "YYYY-MM-DD HH:MM:SS" (UTC)',
                DATE: 'a date "YYYY-MM-DD"'}.get(kind, "text")
    shown = f'"{value}"' if isinstance(value, str | int | float | bool) else "NULL"
    raise ApiError(400, "%1: value %2 is not %3.", [where, shown, expected])


def _where(c: Criteria, fields: dict[str, str]) -> list[list[Cond]]:
    """SearchCriteriaSql::where: every filter checked, in order; groups ANDed."""
    groups: list[list[Cond]] = []
    for g, group in enumerate(c.groups):
        conds = []
        for f, flt in enumerate(group):
            where = f"filter_groups[{g}][filters][{f}]"
            if flt.field not in fields:
                raise ApiError(400, '%1: field "%2" cannot be filtered on; use one of %3.',
                               [where, flt.field, ", ".join(fields)])
            kind = fields[flt.field]
            ctype = flt.given_condition or "eq"
            at = f"{where} ({flt.field})"
            if ctype in COMPARISONS:
                conds.append(Cond(flt.field, kind, ctype, [_value(flt.value, kind, at)]))
            elif ctype in ("in", "nin"):
                raw = flt.value
                parts = [p for p in re.split(r"\s*,\s*", str(raw).strip()) if p] \
                    if isinstance(raw, str | int | float) else []
                if not parts:
                    raise ApiError(400, '%1 (%2): "%3" needs at least one value.',
                                   [where, flt.field, ctype])
                conds.append(Cond(flt.field, kind, ctype, [_value(p, kind, at) for p in parts]))
            elif ctype == "like" and kind == TEXT:
                conds.append(Cond(flt.field, kind, ctype, [_like(str(flt.value).casefold())]))
            elif ctype in ("null", "notnull"):
                conds.append(Cond(flt.field, kind, ctype, []))
            else:
                raise ApiError(400, '%1 (%2): condition_type "%3" is not supported; use eq, '
                                    "neq, gt, gteq, lt, lteq, in, nin%4, null or notnull.",
                               [where, flt.field, ctype, ", like" if kind == TEXT else ""])
        if conds:
            groups.append(conds)
    return groups


def _page(c: Criteria) -> tuple[int, int]:
    """SearchCriteriaSql::page: (limit, offset)."""
    size = DEFAULT_PAGE_SIZE if c.page_size is None else c.page_size
    page = 1 if c.current_page is None else c.current_page
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, "searchCriteria[pageSize] must be a whole number from 1 to %1.",
                       [MAX_PAGE_SIZE])
    if page < 1:
        raise ApiError(400, "searchCriteria[currentPage] must be a whole number from 1.")
    return size, (page - 1) * size


def _order(c: Criteria, keys: list[str]) -> list[tuple[str, bool]]:
    """SearchCriteriaSql::orderBy: [(field, descending)], the other keys appended in the
    direction of the last sort order given (ASC when none gives one)."""
    order: dict[str, bool] = {}
    desc = False
    for i, s in enumerate(c.sorts):
        if s.field not in keys:
            raise ApiError(400, 'sort_orders[%1][field] "%2" cannot be sorted on; use %3.',
                           [i, s.field, " or ".join(keys)])
        desc = s.direction == "DESC"
        order[s.field] = desc
    for k in keys:
        order.setdefault(k, desc)
    return list(order.items())


def _criteria(call: Call, fields: dict[str, str], keys: list[str]
              ) -> tuple[list[list[Cond]], int, int, list[tuple[str, bool]]]:
    c = parse_criteria(call.query, call.server.max_page_size)
    groups = _where(c, fields)
    size, offset = _page(c)
    return groups, size, offset, _order(c, keys)


def _sorted(rows: list[Any], order: list[tuple[str, bool]],
            get: Callable[[Any, str], Any]) -> list[Any]:
    for name, desc in reversed(order):  # stable sorts, last key first
        rows.sort(key=lambda r, n=name: (get(r, n) is not None, get(r, n)), reverse=desc)
    return rows


# --- catalog price rules -------------------------------------------------------------

RULE_KEYS = ("rule_id", "name", "description", "is_active", "website_ids",
             "customer_group_ids", "from_date", "to_date", "simple_action", "discount_amount",
             "stop_rules_processing", "sort_order", "skus", "has_other_conditions")
RULE_FIELDS = {"rule_id": INT, "name": TEXT, "description": TEXT, "is_active": INT,
               "from_date": DATE, "to_date": DATE, "simple_action": TEXT, "sort_order": INT}


def rule_json(rule: dict[str, Any]) -> dict[str, Any]:
    """CatalogRuleManagement::toData, nulls left out."""
    other = rule["other_conditions"]
    out = {k: rule[k] for k in RULE_KEYS[:-2] if rule.get(k) is not None}
    out["skus"] = [] if other else list(rule["skus"])
    out["has_other_conditions"] = other
    return out


def _rule_id(value: int | None) -> int:
    """CatalogRuleManagement::ruleId (Magento has converted the URL part to an int)."""
    if value is None or value < 1 or value > 9_999_999_999:
        raise ApiError(400, "ruleId must be a whole number of at least 1.")
    return value


def _rule(call: Call, rule_id: int) -> dict[str, Any]:
    rule = call.shop.module.rules.get(rule_id)
    if rule is None:
        raise ApiError(404, RULE_NOT_FOUND, [rule_id])
    return rule


def _rule_body(call: Call) -> dict[str, Any]:
    body = call.body
    raw = body.get("rule") if isinstance(body, dict) else None
    if raw is None:
        raise required("rule")
    if not isinstance(raw, dict):
        raise ApiError(400, TYPE_INVALID, {"value": str(raw), "type": "object"})
    data = _object(raw, RULE_KEYS)
    return {
        "rule_id": _int(data.get("rule_id")), "name": _str(data.get("name")),
        "description": _str(data.get("description")), "is_active": _bool(data.get("is_active")),
        "website_ids": _list(data.get("website_ids"), _int),
        "customer_group_ids": _list(data.get("customer_group_ids"), _int),
        "from_date": _str(data.get("from_date")), "to_date": _str(data.get("to_date")),
        "simple_action": _str(data.get("simple_action")),
        "discount_amount": _float(data.get("discount_amount")),
        "stop_rules_processing": _bool(data.get("stop_rules_processing")),
        "sort_order": _int(data.get("sort_order")), "skus": _list(data.get("skus"), _str),
    }


def _ids(value: list[Any] | None, name: str, minimum: int) -> list[int]:
    ids: list[int] = []
    for i, v in enumerate(value or []):
        if v is None or v < minimum:
            raise ApiError(400, "%1[%2] must be a whole number of at least %3.",
                           [name, i, minimum])
        if v not in ids:
            ids.append(v)
    if not ids:
        raise ApiError(400, "%1 must list at least one id.", [name])
    return ids


def _date(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    from datetime import date

    try:
        ok = date.fromisoformat(value).isoformat() == value
    except ValueError:
        ok = False
    if not ok or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ApiError(400, '%1 "%2" is not a date YYYY-MM-DD.', [name, value])
    return value


def _fill(rule: dict[str, Any], data: dict[str, Any]) -> None:
    """CatalogRuleManagement::fill: validate every field, then store them on ``rule``."""
    name = (data["name"] or "").strip()
    if not name or len(name.encode()) > 255:
        raise ApiError(400, "rule.name must be 1 to 255 characters.")
    action = data["simple_action"] or ""
    if action not in ACTIONS:
        raise ApiError(400, 'rule.simple_action "%1" is not one of %2.',
                       [action, ", ".join(ACTIONS)])
    amount = data["discount_amount"]
    percent = action in ("by_percent", "to_percent")
    if amount is None or amount < 0 or (percent and amount > 100):
        raise ApiError(400, "rule.discount_amount must be a number from 0%1.",
                       [f" to 100 for {action}" if percent else ""])
    websites = _ids(data["website_ids"], "rule.website_ids", 1)
    groups = _ids(data["customer_group_ids"], "rule.customer_group_ids", 0)
    start = _date(data["from_date"], "rule.from_date")
    end = _date(data["to_date"], "rule.to_date")
    if start is not None and end is not None and end < start:
        raise ApiError(400, "rule.to_date %1 is before rule.from_date %2.", [end, start])
    skus: list[str] = []
    for i, sku in enumerate(data["skus"] or []):
        sku = (sku or "").strip()
        if not sku or "," in sku or ";" in sku:
            raise ApiError(400, 'rule.skus[%1] must be a non-empty SKU without "," or ";" '
                                "(Magento splits the list on them).", [i])
        skus.append(sku)
    sort_order = data["sort_order"]
    if sort_order is not None and not 0 <= sort_order <= 999_999_999:
        raise ApiError(400, "rule.sort_order must be a whole number of at least 0.")
    rule.update({
        "name": name, "description": data["description"], "is_active": bool(data["is_active"]),
        "website_ids": sorted(websites), "customer_group_ids": sorted(groups),
        "from_date": start, "to_date": end, "simple_action": action,
        "discount_amount": float(amount),
        "stop_rules_processing": bool(data["stop_rules_processing"]),
        "sort_order": int(sort_order or 0), "skus": skus, "other_conditions": False,
    })


def catalog_rule_get(call: Call) -> Any:
    rule_id = _rule_id(_int(call.params["ruleId"]))
    with call.shop.lock:
        return rule_json(_rule(call, rule_id))


def catalog_rule_post(call: Call) -> Any:
    data = _rule_body(call)
    if data["rule_id"] is not None:
        raise ApiError(400, "rule.rule_id is set (%1): to change an existing rule use PUT "
                            "/V1/segbridge/catalogRules/%1.", [data["rule_id"]])
    state = call.shop.module
    with call.shop.lock:
        rule: dict[str, Any] = {"rule_id": state.next_rule_id}
        _fill(rule, data)
        state.rules[rule["rule_id"]] = rule
        state.next_rule_id += 1
        return rule_json(rule)


def catalog_rule_put(call: Call) -> Any:
    raw_id = _int(call.params["ruleId"])  # Magento converts the arguments in order,
    data = _rule_body(call)               # then the module checks them
    rule_id = _rule_id(raw_id)
    if data["rule_id"] is not None and data["rule_id"] != rule_id:
        raise ApiError(400, "rule.rule_id %1 differs from the rule %2 in the URL.",
                       [data["rule_id"], rule_id])
    with call.shop.lock:
        stored = _rule(call, rule_id)
        rule = dict(stored)
        _fill(rule, data)  # nothing is stored when a field is refused
        stored.update(rule)
        return rule_json(stored)


def catalog_rules_search(call: Call) -> Any:
    groups, size, offset, order = _criteria(call, RULE_FIELDS, ["rule_id"])

    def get(rule: dict[str, Any], name: str) -> Any:
        v = rule.get(name)
        return int(v) if isinstance(v, bool) else v

    with call.shop.lock:
        rules = [r for r in call.shop.module.rules.values()
                 if all(any(c.test(get(r, c.field)) for c in g) for g in groups)]
        rules = _sorted(rules, order, get)
        return {"items": [rule_json(r) for r in rules[offset:offset + size]],
                "total_count": len(rules)}


def catalog_rules_apply(call: Call) -> Any:
    state = call.shop.module
    with call.shop.lock:
        state.rules_applied += 1
        state.indexer_valid = False
    return True


# --- wishlist items and viewed products ----------------------------------------------

ACTIVITY_FIELDS = {"id": INT, "customer_id": INT, "product_id": INT, "store_id": INT,
                   "added_at": DATETIME}
_LOW, _HIGH = -1, 2**63


def _range(groups: list[list[Cond]], keys: list[tuple[str, int]]
           ) -> tuple[int, int, list[list[Cond]]]:
    """The slice of ``keys`` that bounds on ``added_at`` (and the keyset pair "added_at
    gt u OR id gt i" under "added_at gteq u") leave, and the groups still to test."""
    lo: tuple[str, int] = ("", _LOW)
    hi: tuple[str, int] = ("\uffff", _HIGH)
    rest: list[list[Cond]] = []
    pairs: list[tuple[list[Cond], str, int]] = []
    for g in groups:
        c = g[0]
        if len(g) == 1 and c.field == "added_at" and c.ctype in COMPARISONS and c.ctype != "neq":
            u = c.values[0]
            if c.ctype in ("gteq", "eq"):
                lo = max(lo, (u, _LOW))
            if c.ctype == "gt":
                lo = max(lo, (u, _HIGH))
            if c.ctype in ("lteq", "eq"):
                hi = min(hi, (u, _HIGH))
            if c.ctype == "lt":
                hi = min(hi, (u, _LOW))
            continue
        if len(g) == 2 and {x.field for x in g} == {"added_at", "id"} \
                and all(x.ctype == "gt" for x in g):
            t = next(x for x in g if x.field == "added_at").values[0]
            i = next(x for x in g if x.field == "id").values[0]
            pairs.append((g, t, i))
            continue
        rest.append(g)
    for g, t, i in pairs:
        if lo[0] >= t:  # every row left has added_at >= t: the pair is "key > (t, i)"
            lo = max(lo, (t, i + 1))
        else:
            rest.append(g)
    start = bisect.bisect_left(keys, lo)
    end = max(start, bisect.bisect_left(keys, hi))
    return start, end, rest


def _activity_json(call: Call, row: ActivityRow) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "customer_id": row.customer_id,
                           "product_id": row.product_id}
    product = call.shop.module.products.get(row.product_id)
    if product is not None:
        out["sku"] = product.sku
        out["name"] = product.name
        out["price"] = product.price
    out["added_at"] = row.added_at
    if row.store_id is not None:
        out["store_id"] = row.store_id
    return out


def _activity(call: Call, table: ActivityTable) -> dict[str, Any]:
    """ActivityReader::read: filters, (added_at, id) order, a page and the total."""
    groups, size, offset, order = _criteria(call, ACTIVITY_FIELDS, ["added_at", "id"])
    with call.shop.lock:
        start, end, rest = _range(groups, table.keys)
        natural = [f for f, _ in order] == ["added_at", "id"]
        same_way = len({d for _, d in order}) == 1
        if not rest and natural and same_way:
            total = end - start
            if order[0][1]:  # DESC: the slice from its end
                hi = end - offset
                rows = list(table.in_order(max(start, hi - size), max(start, hi)))[::-1]
            else:
                rows = list(table.in_order(start + offset, min(end, start + offset + size)))
        else:
            matched = [r for r in table.in_order(start, end)
                       if all(any(c.test(getattr(r, c.field)) for c in g) for g in rest)]
            total = len(matched)
            rows = _sorted(matched, order, getattr)[offset:offset + size]
        return {"items": [_activity_json(call, r) for r in rows], "total_count": total}


def wishlist_items(call: Call) -> Any:
    return _activity(call, call.shop.module.wishlist)


def product_views(call: Call) -> Any:
    return _activity(call, call.shop.module.views)


MODULE_ROUTES: list[Route] = [
    Route("GET", "/V1/segbridge/info", info, ACL),
    Route("POST", "/V1/segbridge/groupAssignments", group_assignments, ACL),
    Route("GET", "/V1/segbridge/catalogRules/search", catalog_rules_search, ACL),
    Route("POST", "/V1/segbridge/catalogRules/apply", catalog_rules_apply, ACL),
    Route("GET", "/V1/segbridge/catalogRules/{ruleId}", catalog_rule_get, ACL),
    Route("POST", "/V1/segbridge/catalogRules", catalog_rule_post, ACL),
    Route("PUT", "/V1/segbridge/catalogRules/{ruleId}", catalog_rule_put, ACL),
    Route("GET", "/V1/segbridge/wishlistItems", wishlist_items, ACL),
    Route("GET", "/V1/segbridge/productViews", product_views, ACL),
]
MODULE_ROUTES = [Route(r.method, r.template, r.handler, r.acl,
                       tuple(r.template.strip("/").split("/"))) for r in MODULE_ROUTES]


def match_module(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The module route for ``/V1/segbridge/...``, or None."""
    return match(method, path, MODULE_ROUTES)
