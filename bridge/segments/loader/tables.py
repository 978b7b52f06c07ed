"""The tables that push to Magento besides ``[group]``: ``[[cms_blocks]]``,
``[[cart_rules]]`` and ``[[catalog_rules]]``, each parsed and checked entry by entry.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from bridge.segments.attributes import AttributeSpec
from bridge.segments.loader.content import _read_content
from bridge.segments.loader.messages import _Err, _Problems, _q, _unknown_keys, did_you_mean
from bridge.segments.loader.schema import (
    BLOCK_KEYS,
    CATALOG_ACTIONS,
    CATALOG_RULE_KEYS,
    GROUP_MARKER,
    MAX_LIST,
    MAX_NAME,
    MAX_SKU,
    MAX_SLOT_LENGTH,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    SLOT_RE,
)
from bridge.segments.loader.text import _invisible_characters, _max_length, _no_personal_data
from bridge.segments.loader.values import _bool, _int, _number, _str, _to_date
from bridge.segments.model import CartRuleSpec, CatalogRuleSpec, CmsBlockSpec


def _cms_blocks(raw: Any, mappings_dir: Path, out: _Problems) -> list[CmsBlockSpec]:
    if not isinstance(raw, list):
        out.add("cms_blocks", "must be a list of tables ([[cms_blocks]])")
        return []
    blocks = []
    for i, b in enumerate(raw):
        p = f"cms_blocks[{i}]."
        if not isinstance(b, dict):
            out.add(p[:-1], "must be a table")
            continue
        _unknown_keys(b, BLOCK_KEYS, p[:-1], out)
        ident = _str(b, "identifier", None, p, out)
        _no_personal_data(ident, p + "identifier", out)
        if not ident:
            out.add(p + "identifier", "is required (the slot name, e.g. home-hero)")
        elif _invisible_characters(ident, p + "identifier", "the block", out):
            pass
        elif not SLOT_RE.fullmatch(ident):
            out.add(p + "identifier", f"{_q(ident)} may use only letters, digits, - and _")
        elif GROUP_MARKER in ident.lower():
            # the storefront widget refuses such a slot, so its blocks would never show
            out.add(
                p + "identifier",
                f"{_q(ident)} must not contain {_q(GROUP_MARKER)} (segbridge appends it)",
            )
        elif len(ident) > MAX_SLOT_LENGTH:
            out.add(p + "identifier", f"is longer than {MAX_SLOT_LENGTH} characters")
        title = _str(b, "title", ident or "", p, out) or ""
        _max_length(title, p + "title", MAX_NAME, out)
        content_file = _str(b, "content_file", None, p, out)
        content = ""
        if not content_file:
            out.add(p + "content_file", "is required (an HTML file relative to the mappings dir)")
        elif "\0" not in content_file:  # a NUL is reported by _no_nul
            read = _read_content(mappings_dir, content_file)
            if isinstance(read, _Err):
                out.add(p + "content_file", f"{_q(content_file)}: {read.message}")
            else:
                content = read
        active = _bool(b, "active", True, p, out)
        stores_raw = b.get("stores", [0])
        stores: tuple[int, ...] = (0,)
        if (
            not isinstance(stores_raw, list)
            or not stores_raw
            or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in stores_raw
            )
        ):
            out.add(
                p + "stores", "must be a non-empty list of store view ids (0 = all store views)"
            )
        else:
            stores = tuple(stores_raw)
        if ident:
            blocks.append(CmsBlockSpec(ident, title, content, active, stores, content_file or ""))
    # Magento's cms_block.identifier compares without case (MySQL's collation): "Home"
    # and "home" would be one block, written twice with different contents.
    spellings: dict[str, list[str]] = {}
    for b in blocks:
        spellings.setdefault(b.identifier.casefold(), []).append(b.identifier)
    for names in spellings.values():
        if len(names) < 2:
            continue
        if len(set(names)) == 1:
            out.add("cms_blocks", f"identifier {_q(names[0])} appears more than once")
        else:
            out.add("cms_blocks", f"identifiers {', '.join(_q(n) for n in names)} name the "
                                  "same block (Magento compares identifiers without case)")
    return blocks


def _rule_name(r: dict[str, Any], p: str, what: str, out: _Problems) -> str | None:
    """A rule's ``name``: required, shown in Magento's admin (no personal data)."""
    name = _str(r, "name", None, p, out)
    _no_personal_data(name, p + "name", out)
    if not name:
        out.add(p + "name", "is required")
        return None
    if _invisible_characters(name, p + "name", what, out):
        return None
    _max_length(name, p + "name", MAX_NAME, out)
    return name


def _action_amount(
    r: dict[str, Any], p: str, actions: tuple[str, ...], out: _Problems
) -> tuple[str | None, Decimal | None]:
    """``simple_action`` (one of ``actions``) and ``discount_amount`` (≥ 0, a percentage
    at most 100)."""
    action = r.get("simple_action")
    if "simple_action" not in r:
        out.add(p + "simple_action", f"is required (one of {', '.join(actions)})")
    elif action not in actions:
        hint = did_you_mean(action, actions)
        out.add(p + "simple_action", f"{_q(action)} is not one of {', '.join(actions)}{hint}")
    if action not in actions:
        action = None
    amount = None
    if "discount_amount" not in r:
        out.add(p + "discount_amount", "is required")
    else:
        a = _number(r["discount_amount"], AttributeSpec("discount_amount", "number", scale=4))
        if isinstance(a, str):
            out.add(p + "discount_amount", a)
        elif a < 0:
            out.add(p + "discount_amount", "must not be negative")
        elif action in ("by_percent", "to_percent") and a > 100:
            out.add(p + "discount_amount", "a percentage above 100")
        else:
            amount = a
    return action, amount


def _dates(r: dict[str, Any], p: str, out: _Problems) -> dict[str, date | None]:
    """``from_date`` and ``to_date`` (optional, YYYY-MM-DD, in order)."""
    dates: dict[str, date | None] = {}
    for key in ("from_date", "to_date"):
        dates[key] = None
        if key in r:
            d = _to_date(r[key])
            if d is None:
                out.add(p + key, f"{_q(r[key])} is not a date (YYYY-MM-DD)")
            dates[key] = d
    if dates["from_date"] and dates["to_date"] and dates["from_date"] > dates["to_date"]:
        out.add(p + "to_date", "is before from_date")
    return dates


def _cart_rules(raw: Any, out: _Problems) -> list[CartRuleSpec]:
    if not isinstance(raw, list):
        out.add("cart_rules", "must be a list of tables ([[cart_rules]])")
        return []
    rules = []
    for i, r in enumerate(raw):
        p = f"cart_rules[{i}]."
        if not isinstance(r, dict):
            out.add(p[:-1], "must be a table")
            continue
        _unknown_keys(r, RULE_KEYS, p[:-1], out)
        name = _rule_name(r, p, "the cart rule", out)
        action, amount = _action_amount(r, p, SIMPLE_ACTIONS, out)
        coupon = _str(r, "coupon_code", "", p, out) or ""
        _max_length(coupon, p + "coupon_code", MAX_NAME, out)
        dates = _dates(r, p, out)
        stop = _bool(r, "stop_rules_processing", False, p, out)
        step = _int(r, "discount_step", p, out)
        qty = None
        if "discount_qty" in r:
            q = _number(r["discount_qty"], AttributeSpec("discount_qty", "number", scale=4))
            if isinstance(q, str) or q < 0:
                out.add(p + "discount_qty", f"{_q(r['discount_qty'])} is not a number ≥ 0")
            else:
                qty = q
        shipping = None
        if "apply_to_shipping" in r:
            shipping = _bool(r, "apply_to_shipping", False, p, out)
        sort_order = _int(r, "sort_order", p, out)
        if name and action and amount is not None:
            rules.append(
                CartRuleSpec(
                    name=name,
                    simple_action=action,
                    discount_amount=amount,
                    coupon_code=coupon,
                    from_date=dates["from_date"],
                    to_date=dates["to_date"],
                    stop_rules_processing=stop,
                    discount_step=step,
                    discount_qty=qty,
                    apply_to_shipping=shipping,
                    sort_order=sort_order,
                )
            )
    return rules


def _catalog_rules(raw: Any, config: Any, out: _Problems) -> list[CatalogRuleSpec]:
    """``[[catalog_rules]]``: catalog price rules for the segment's group. Core REST has no
    catalog rule routes, so they need the storefront module: with ``module.use = "off"``
    the table is refused here, before anything is read from or written to Magento."""
    if not isinstance(raw, list):
        out.add("catalog_rules", "must be a list of tables ([[catalog_rules]])")
        return []
    use = getattr(getattr(config, "module", None), "use", "auto")
    if raw and use == "off":
        out.add("catalog_rules", 'needs segbridge\'s storefront module, and module.use = "off" '
                                 "(set it to auto or on once the module is installed; "
                                 "docs/storefront.md)")
    rules = []
    for i, r in enumerate(raw):
        p = f"catalog_rules[{i}]."
        if not isinstance(r, dict):
            out.add(p[:-1], "must be a table")
            continue
        _unknown_keys(r, CATALOG_RULE_KEYS, p[:-1], out)
        name = _rule_name(r, p, "the catalog rule", out)
        action, amount = _action_amount(r, p, CATALOG_ACTIONS, out)
        skus = _skus(r.get("skus", []), p + "skus", out)
        dates = _dates(r, p, out)
        stop = _bool(r, "stop_rules_processing", False, p, out)
        sort_order = _int(r, "sort_order", p, out)
        if name and action and amount is not None and skus is not None:
            rules.append(CatalogRuleSpec(
                name=name, simple_action=action, discount_amount=amount, skus=skus,
                from_date=dates["from_date"], to_date=dates["to_date"],
                stop_rules_processing=stop, sort_order=sort_order,
            ))
    return rules


def _skus(raw: Any, key: str, out: _Problems) -> tuple[str, ...] | None:
    """A catalog rule's SKU list: empty (every product) or at most MAX_LIST SKUs as
    Magento stores them (no "," or ";": Magento splits a rule's SKU list on them)."""
    if not isinstance(raw, list):
        out.add(key, f"{_q(raw)} is not a list of SKUs ([] for every product)")
        return None
    if len(raw) > MAX_LIST:
        out.add(key, f"has {len(raw)} SKUs, more than {MAX_LIST}")
        return None
    skus: list[str] = []
    folded: set[str] = set()  # a set, not a scan: 10,000 SKUs stay linear
    bad = False
    for n, sku in enumerate(raw):
        where = f"{key}[{n}]"
        if not isinstance(sku, str) or not sku.strip():
            out.add(where, f"{_q(sku)} is not a SKU (a non-empty string)")
            bad = True
        elif sku != sku.strip() or "," in sku or ";" in sku:
            out.add(where, f"{_q(sku)} has surrounding spaces, \",\" or \";\" (Magento splits "
                           "a rule's SKU list on them)")
            bad = True
        elif len(sku) > MAX_SKU:
            out.add(where, f"is longer than {MAX_SKU} characters (Magento's SKU column)")
            bad = True
        elif _invisible_characters(sku, where, "the SKU", out):
            bad = True  # a control or invisible character: reads like another SKU
        elif sku.casefold() in folded:
            out.add(where, f"{_q(sku)} appears more than once")
            bad = True
        else:
            skus.append(sku)
            folded.add(sku.casefold())
    return None if bad else tuple(skus)
