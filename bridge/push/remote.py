"""The few Magento calls the push makes, over ``MagentoClient``.

One thin layer so that the push's handlers read as intent ("find the rule carrying this
marker") and the exact client calls live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bridge.magento.search import SearchCriteria


def _items(result: Any) -> list[dict[str, Any]]:
    """Items of a search call, whatever it returns (items, pages, or a result dict)."""
    if isinstance(result, dict):
        return list(result.get("items") or [])
    out: list[dict[str, Any]] = []
    for entry in result:
        if isinstance(entry, dict) and "items" in entry and "id" not in entry:
            out.extend(entry.get("items") or [])
        elif isinstance(entry, list):
            out.extend(entry)
        elif not isinstance(entry, dict) and hasattr(entry, "items"):
            out.extend(entry.items)
        else:
            out.append(entry)
    return out


def carries_marker(description: str, marker: str) -> bool:
    """``description`` is one segbridge wrote for ``marker`` (``f"{marker} {text}"``)."""
    return description == marker or description.startswith(marker + " ")


class Remote:
    """Magento as the push sees it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.writes = 0  # object writes answered (groups, blocks, rules, coupons): the main
        # thread's steps tell "written" from "already as wanted" by it

    def _wrote(self, answer: Any) -> dict[str, Any]:
        self.writes += 1
        return dict(answer)

    # --- customer groups ------------------------------------------------------------
    def groups(self) -> list[dict[str, Any]]:
        return _items(self.client.search_customer_groups(SearchCriteria()))

    def find_group(self, code: str) -> dict[str, Any] | None:
        folded = code.casefold()
        crit = SearchCriteria().where("code", "eq", code)
        for g in _items(self.client.search_customer_groups(crit)):
            if str(g.get("code", "")).casefold() == folded:
                return g
        return None

    def create_group(self, code: str, tax_class_id: int) -> dict[str, Any]:
        return self._wrote(self.client.create_customer_group(code, tax_class_id))

    # --- customers ------------------------------------------------------------------
    def get_customer(self, customer_id: int) -> dict[str, Any]:
        return dict(self.client.get_customer(customer_id))

    def put_customer(self, customer_id: int, customer: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.put_customer(customer_id, customer))

    # --- cms blocks -----------------------------------------------------------------
    def find_blocks(
        self, identifier: str, store_code: str, *, store_id: int | None = None,
        any_case: bool = False,
    ) -> list[dict[str, Any]]:
        """Blocks named ``identifier``; with ``store_id``, only those shown in that store
        view (Magento's store filter also returns the "All Store Views" ones). Magento
        compares identifiers without case; ``any_case`` does too."""
        crit = SearchCriteria().where("identifier", "eq", identifier)
        if store_id is not None:
            crit = crit.where("store_id", "eq", store_id)
        want = identifier.casefold() if any_case else identifier
        return [
            b
            for b in _items(self.client.search_cms_blocks(crit, store_code))
            if (str(b.get("identifier") or "").casefold() if any_case
                else b.get("identifier")) == want
        ]

    def get_block(self, block_id: int, store_code: str) -> dict[str, Any] | None:
        crit = SearchCriteria().where("block_id", "eq", block_id)
        for b in _items(self.client.search_cms_blocks(crit, store_code)):
            if int(b.get("id", -1)) == int(block_id):
                return b
        return None

    def create_block(self, block: dict[str, Any], store_code: str) -> dict[str, Any]:
        return self._wrote(self.client.create_cms_block(block, store_code))

    def update_block(self, block_id: int, block: dict[str, Any], store_code: str) -> dict[str, Any]:
        return self._wrote(self.client.update_cms_block(block_id, block, store_code))

    # --- cart price rules -----------------------------------------------------------
    def find_rules(self, marker: str) -> list[dict[str, Any]]:
        """Rules carrying ``marker`` where segbridge writes it: the very start of the
        description, then its end or a space (``plan.rule_desired``). A person's rule
        that merely mentions a marker further on is never taken for segbridge's."""
        crit = SearchCriteria().where("description", "like", f"{marker}%")
        return [
            r
            for r in _items(self.client.search_sales_rules(crit))
            if carries_marker(str(r.get("description") or ""), marker)
        ]

    def get_rule(self, rule_id: int) -> dict[str, Any]:
        return dict(self.client.get_sales_rule(rule_id))

    def create_rule(self, rule: dict[str, Any]) -> dict[str, Any]:
        return self._wrote(self.client.create_sales_rule(rule))

    def update_rule(self, rule_id: int, rule: dict[str, Any]) -> dict[str, Any]:
        return self._wrote(self.client.update_sales_rule(rule_id, rule))

    def coupons(
        self, *, rule_id: int | None = None, code: str | None = None
    ) -> list[dict[str, Any]]:
        crit = SearchCriteria()
        if rule_id is not None:
            crit = crit.where("rule_id", "eq", rule_id)
        if code is not None:
            crit = crit.where("code", "eq", code)
        return _items(self.client.search_coupons(crit))

    def create_coupon(self, coupon: dict[str, Any]) -> dict[str, Any]:
        return self._wrote(self.client.create_coupon(coupon))


def ids(items: Iterable[dict[str, Any]], key: str = "id") -> list[int]:
    return [int(i[key]) for i in items if i.get(key) is not None]
