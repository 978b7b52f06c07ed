"""The tables that push to Magento besides ``[group]``: ``[[cms_blocks]]`` and
``[[cart_rules]]``, each parsed and checked entry by entry.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from bridge.segments.attributes import AttributeSpec
from bridge.segments.loader.content import _read_content
from bridge.segments.loader.messages import _Err, _Problems, _q, _unknown_keys, did_you_mean
from bridge.segments.loader.schema import (
    BLOCK_KEYS,
    GROUP_MARKER,
    MAX_NAME,
    MAX_SLOT_LENGTH,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    SLOT_RE,
)
from bridge.segments.loader.text import _invisible_characters, _max_length, _no_personal_data
from bridge.segments.loader.values import _bool, _int, _number, _str, _to_date
from bridge.segments.model import CartRuleSpec, CmsBlockSpec


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
        name = _str(r, "name", None, p, out)
        _no_personal_data(name, p + "name", out)
        if not name:
            out.add(p + "name", "is required")
        elif _invisible_characters(name, p + "name", "the cart rule", out):
            name = None
        action = r.get("simple_action")
        if action not in SIMPLE_ACTIONS:
            hint = did_you_mean(action, SIMPLE_ACTIONS)
            out.add(
                p + "simple_action", f"{_q(action)} is not one of {', '.join(SIMPLE_ACTIONS)}{hint}"
            )
        amount = None
        if "discount_amount" not in r:
            out.add(p + "discount_amount", "is required")
        else:
            a = _number(r["discount_amount"], AttributeSpec("discount_amount", "number", scale=4))
            if isinstance(a, str):
                out.add(p + "discount_amount", a)
            elif a < 0:
                out.add(p + "discount_amount", "must not be negative")
            elif action == "by_percent" and a > 100:
                out.add(p + "discount_amount", "a percentage above 100")
            else:
                amount = a
        coupon = _str(r, "coupon_code", "", p, out) or ""
        _max_length(name, p + "name", MAX_NAME, out)
        _max_length(coupon, p + "coupon_code", MAX_NAME, out)
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
        if name and action in SIMPLE_ACTIONS and amount is not None:
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
