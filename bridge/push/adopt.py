"""Adoption: what segbridge wrote is found in Magento when the store has no record of it.

The store is a cache that can be lost (a new disk, a new host, a deleted file; docs/push.md).
Before planning, every block, cart rule and catalog rule an active segment file asks for
that the store has no record of is looked up in Magento — blocks by identifier in their
store view, cart rules by their ``segbridge:<segment>:<n>`` description marker, catalog
rules (through the storefront module) by ``segbridge:<segment>:catalog:<n>``, a rule's
coupon by its code — and, when found, taken as segbridge's own instead of being created again.
The planner then compares it with the file like any recorded object: unchanged means no
write, edited by hand means an update in place. Groups need no step of their own: the
planner already looks them up by code, case-insensitively, in Magento's live list.

Only reads are made here, so ``plan`` can show the same adoption ``push`` records.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bridge.push.catalog import NO_MODULE, same_rule
from bridge.push.catalog import find_rules as find_catalog_rules
from bridge.push.cms import same_block
from bridge.push.plan import ObjectRow, PlanInputs, Wanted, fingerprint, wanted_objects
from bridge.push.remote import Remote
from bridge.push.rules import differs, rule_id_of

log = logging.getLogger("bridge.push")


@dataclass
class Adoption:
    objects: list[ObjectRow] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # left alone, one line each


def adopt_objects(remote: Remote, inp: PlanInputs) -> Adoption:
    """The unrecorded objects the segment files ask for that Magento already holds."""
    found = Adoption()
    recorded = {(o.kind, o.key) for o in inp.objects}
    taken = {(o.kind, o.magento_id) for o in inp.objects}
    for w in wanted_objects(inp.segments, inp.groups, inp.store_codes, inp.website_ids):
        if (w.kind, w.key) in recorded or w.group_id is None:
            continue  # ours already, or its group is created by this push: nothing to find
        if w.kind == "cms_block":
            row = _block(remote, w, taken, found)
        elif w.kind == "catalog_rule":
            row = _catalog(remote, w, taken, found)
        else:
            row = _rule(remote, w, taken, found)
        if row is not None:
            taken.add((row.kind, row.magento_id))
            found.objects.append(row)
    for line in found.duplicates:
        log.warning("push: %s", line)
    return found


def _lowest(candidates: list[tuple[int, dict[str, Any]]], what: str, hint: str,
            found: Adoption) -> tuple[int, dict[str, Any]] | None:
    """The candidate with the lowest id; the others are reported and left alone."""
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    if len(candidates) > 1:
        rest = [str(i) for i, _ in candidates[1:]]
        others = f"id {rest[0]}" if len(rest) == 1 else f"ids {', '.join(rest)}"
        found.duplicates.append(
            f"{what} is carried by {len(candidates)} objects in Magento: id "
            f"{candidates[0][0]} adopted, {others} left alone ({hint})"
        )
    return candidates[0]


def _block(remote: Remote, w: Wanted, taken: set[tuple[str, int]],
           found: Adoption) -> ObjectRow | None:
    ident = str(w.owned["identifier"])
    assert w.store_code is not None and w.store_id is not None
    candidates = [
        (int(b["id"]), b)
        for b in remote.find_blocks(ident, w.store_code, store_id=w.store_id, any_case=True)
        if ("cms_block", int(b["id"])) not in taken
    ]
    pick = _lowest(candidates, f"cms block {ident!r} in store {w.store_code}",
                   "delete the others in Magento, or rename them", found)
    if pick is None:
        return None
    bid, block = pick
    same = same_block(block, dict(w.owned))
    return ObjectRow(
        "cms_block", w.key, w.segment_code, bid, _active(block.get("active")),
        fingerprint(w.owned) if same else None, w.store_id, w.store_code, ident,
    )


def _rule(remote: Remote, w: Wanted, taken: set[tuple[str, int]],
          found: Adoption) -> ObjectRow | None:
    candidates = [
        (rule_id_of(r), r) for r in remote.find_rules(w.key)
        if ("cart_rule", rule_id_of(r)) not in taken
    ]
    name = w.desired["rule"].get("name")
    pick = _lowest(candidates, f"cart rule {name!r} (marker {w.key})",
                   "each copy gives its discount too: delete the others in Magento, or take "
                   "the marker out of their description", found)
    if pick is None:
        return None
    rid, rule = pick
    same = not differs(rule, dict(w.desired["rule"]))
    code = str(w.desired.get("coupon_code") or "")
    if same and code:  # the coupon by its code, on this very rule
        same = any(int(c.get("rule_id", -1)) == rid for c in remote.coupons(code=code))
    return ObjectRow(
        "cart_rule", w.key, w.segment_code, rid, _active(rule.get("is_active")),
        fingerprint(w.owned) if same else None,
    )


def _catalog(remote: Remote, w: Wanted, taken: set[tuple[str, int]],
             found: Adoption) -> ObjectRow | None:
    """A catalog rule by its marker, through the storefront module (a store without it:
    nothing to adopt; the push itself then stops before any write)."""
    try:
        rules = find_catalog_rules(remote.client, w.key)
    except NO_MODULE:
        return None
    candidates = [(int(r.rule_id or 0), r) for r in rules
                  if ("catalog_rule", int(r.rule_id or 0)) not in taken]
    name = w.desired["rule"].get("name")
    pick = _lowest(candidates, f"catalog rule {name!r} (marker {w.key})",
                   "each copy gives its discount too: delete the others in Magento, or take "
                   "the marker out of their description", found)
    if pick is None:
        return None
    rid, rule = pick
    same = same_rule(rule, dict(w.desired["rule"]))
    return ObjectRow("catalog_rule", w.key, w.segment_code, rid, bool(rule.is_active),
                     fingerprint(w.owned) if same else None)


def _active(value: Any) -> bool:
    return value not in (False, 0, "0", "false", None)
