"""searchCriteria as Magento 2.4 reads it from a query string: PHP-style query strings,
filter groups, sort orders, page size and current page (docs/magento.md S2, S3).

Filtering, sorting and paging on these criteria: search.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from bridge.sandbox.errors import NOT_SUPPORTED, ApiError, required

DEFAULT_PAGE_SIZE = 20


# ---------------------------------------------------------------------------------------
# PHP-style query strings


def parse_php_query(query: str) -> dict[str, Any]:
    """``a[b][0][c]=1`` -> ``{"a": {"b": {"0": {"c": "1"}}}}`` (PHP's $_GET rules)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            head, rest = key.split("[", 1)
            parts = [head] + rest[:-1].split("][")
        else:
            parts = [key]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return root


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        def order(k: str) -> tuple[int, Any]:
            return (0, int(k)) if k.isdigit() else (1, k)
        return [value[k] for k in sorted(value, key=order)]
    if isinstance(value, list):
        return value
    return []


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


@dataclass
class Filter:
    field: str
    value: Any
    condition: str  # as given, lower-cased; "eq" when omitted
    given_condition: str | None = None


@dataclass
class SortOrder:
    field: str
    direction: str | None  # None: omitted (Magento then sorts DESC)

    @property
    def asc(self) -> bool:
        return self.direction == "ASC"


@dataclass
class Criteria:
    groups: list[list[Filter]] = field(default_factory=list)
    sorts: list[SortOrder] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None
    page_size_given: bool = False

    def echo(self) -> dict[str, Any]:
        """The search_criteria object Magento echoes back."""
        groups = []
        for g in self.groups:
            fl = []
            for f in g:
                d: dict[str, Any] = {"field": f.field, "value": f.value}
                if f.given_condition is not None:
                    d["condition_type"] = f.given_condition
                fl.append(d)
            groups.append({"filters": fl})
        out: dict[str, Any] = {"filter_groups": groups}
        if self.sorts:
            out["sort_orders"] = [
                {"field": s.field, **({"direction": s.direction} if s.direction else {})}
                for s in self.sorts
            ]
        if self.page_size is not None:
            out["page_size"] = self.page_size
        if self.current_page is not None:
            out["current_page"] = self.current_page
        return out


def _int_param(name: str, raw: Any) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ApiError(400, 'The "%1" value\'s type is invalid. The "%2" type was expected. '
                       'Verify and try again.', [raw, "int"]) from None


def parse_criteria(query: dict[str, Any], max_page_size: int | None) -> Criteria:
    """``query['searchCriteria']`` -> Criteria, with Magento's 400s for bad input.

    ``max_page_size`` set means Magento's Web API input limits are on: pageSize above it is
    a 400 and an omitted pageSize becomes 20. None: limits off, no cap, no default.
    """
    raw = query.get("searchCriteria", query.get("search_criteria"))
    if raw is None:
        raise required("searchCriteria")
    if not isinstance(raw, dict):
        raw = {}
    c = Criteria()
    for key, value in raw.items():
        k = _snake(key)
        if k == "filter_groups":
            for g in _as_list(value):
                filters = []
                for f in _as_list(g.get("filters") if isinstance(g, dict) else None):
                    if not isinstance(f, dict):
                        continue
                    fd = {_snake(fk): fv for fk, fv in f.items()}
                    for fk in fd:
                        if fk not in ("field", "value", "condition_type"):
                            raise ApiError(400, NOT_SUPPORTED, {"fieldName": fk})
                    if not fd.get("field"):
                        raise required("field")
                    cond = fd.get("condition_type")
                    filters.append(Filter(str(fd["field"]), fd.get("value", ""),
                                          (cond or "eq").lower(), cond))
                c.groups.append(filters)
        elif k == "sort_orders":
            for s in _as_list(value):
                if not isinstance(s, dict):
                    continue
                sd = {_snake(sk): sv for sk, sv in s.items()}
                fname = str(sd.get("field", ""))
                if re.search(r"[^a-z0-9_]", fname, re.I):
                    raise ApiError(400, "Sort order field %1 contains restricted symbols",
                                   [fname])
                direction = sd.get("direction")
                if direction is not None:
                    direction = str(direction).upper()
                    if direction not in ("ASC", "DESC"):
                        raise ApiError(400, 'Sort order direction "%1" is not supported. '
                                       'Use one of: ASC, DESC.', [sd.get("direction")])
                c.sorts.append(SortOrder(fname, direction))
        elif k == "page_size":
            c.page_size = _int_param("pageSize", value)
            c.page_size_given = True
        elif k == "current_page":
            c.current_page = _int_param("currentPage", value)
        else:
            raise ApiError(400, NOT_SUPPORTED, {"fieldName": key})
    if c.page_size is not None and max_page_size and c.page_size > max_page_size:
        raise ApiError(400, "Maximum SearchCriteria pageSize is %max", {"max": max_page_size})
    if not c.page_size and max_page_size:  # input limits on: the default page size applies
        c.page_size = DEFAULT_PAGE_SIZE
    # input limits off (max_page_size None): no or a zero pageSize means every row
    return c
