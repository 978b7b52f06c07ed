"""One file's table into a ``Segment``: the top-level keys, ``[conditions]``,
``[group]`` and the push tables, every problem reported to the file's ``_Problems``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.lift.holdout import MAX_SHARE, check_share
from bridge.segments.loader.conditions import _combine, _Context, _count_leaves
from bridge.segments.loader.messages import _Problems, _q, _unknown_keys
from bridge.segments.loader.schema import (
    CODE_RE,
    GROUP_KEYS,
    MAX_DESCRIPTION,
    MAX_LEAVES,
    MAX_NAME,
    MAX_WEBSITE_CODE,
    TOP_KEYS,
)
from bridge.segments.loader.tables import _cart_rules, _catalog_rules, _cms_blocks
from bridge.segments.loader.text import (
    _invisible_characters,
    _max_length,
    _no_nul,
    _no_personal_data,
)
from bridge.segments.loader.values import _bool, _str
from bridge.segments.model import MAX_GROUP_CODE, GroupSpec, Segment


def _holdout(data: dict[str, Any], out: _Problems) -> float:
    """``holdout``: the share of members kept out of the push, 0 to MAX_SHARE (default 0)."""
    value = data.get("holdout", 0)
    try:
        return check_share(value)
    except ValueError:
        out.add("holdout", f"{_q(value)} is not a share from 0 to {MAX_SHARE} (0.1 holds out one "
                           "member in ten; docs/lift.md)")
        return 0.0


def parse_segment(
    data: dict[str, Any], source: Path, config: Any, out: _Problems, mappings_dir: Path
) -> Segment | None:
    """One file's segment (None when it has problems, all reported to ``out``)."""
    _unknown_keys(data, TOP_KEYS, "", out)
    _no_nul(data, out)
    code = data.get("code")
    if _invisible_characters(code, "code", "the segment", out):
        code = None
    elif not isinstance(code, str) or not CODE_RE.fullmatch(code):
        out.add(
            "code",
            f"{_q(code) if code is not None else 'missing'}: "
            "is required and must match [a-z0-9_-]+",
        )
        code = None
    elif len(code) > 64:
        out.add("code", "is longer than 64 characters")
    name = _str(data, "name", code or "", "", out) or (code or "")
    description = _str(data, "description", "", "", out) or ""
    for key, text in (("code", code), ("name", data.get("name")), ("description", description)):
        _no_personal_data(text, key, out)
    active = _bool(data, "active", True, "", out)
    website = _str(data, "website", None, "", out)
    _max_length(website, "website", MAX_WEBSITE_CODE, out)
    _max_length(data.get("name"), "name", MAX_NAME, out)
    _max_length(description, "description", MAX_DESCRIPTION, out)
    if website is not None and not website.strip():
        out.add("website", "is empty: omit it for every website")
        website = None
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        out.add("priority", f"{_q(priority)} is not a whole number")
        priority = 0
    holdout = _holdout(data, out)
    since = None
    try:
        from bridge.timeutil import parse_age

        since = parse_age(config.sync.since) if config is not None else None
    except (AttributeError, ValueError):
        since = None
    ctx = _Context(config=config, out=out, since=since)
    if "conditions" not in data:
        out.add("conditions", "is required (the root combine: match, value, rules)")
        conditions = None
    else:
        leaves = _count_leaves(data["conditions"])
        if leaves > MAX_LEAVES:
            # said once, before thousands of leaves are each checked and reported
            out.add("conditions", f"has {leaves} conditions, more than {MAX_LEAVES}")
            conditions = None
        else:
            conditions = _combine(data["conditions"], "conditions", ctx)
    group = None
    if "group" in data:
        g = data["group"]
        if not isinstance(g, dict):
            out.add("group", "must be a table with code")
        else:
            _unknown_keys(g, GROUP_KEYS, "group", out)
            adopt = _bool(g, "adopt", False, "group.", out)
            gcode = g.get("code")
            _no_personal_data(gcode, "group.code", out)
            if not isinstance(gcode, str) or not gcode.strip():
                out.add("group.code", "is required (the customer group's code)")
            elif _invisible_characters(gcode, "group.code", "the group", out):
                pass
            elif len(gcode) > MAX_GROUP_CODE:
                out.add(
                    "group.code",
                    f"{_q(gcode)} is longer than {MAX_GROUP_CODE} characters (Magento's limit)",
                )
            elif gcode.casefold() == "not logged in":
                out.add("group.code", "NOT LOGGED IN (group 0) is never assigned")
            else:
                movable = tuple(getattr(getattr(config, "push", None), "movable_groups", ()) or ())
                if gcode.casefold() in {m.casefold() for m in movable}:
                    out.add(
                        "group.code",
                        f"{_q(gcode)} is one of push.movable_groups; a segment's group must be a "
                        "group of its own",
                    )
                else:
                    group = GroupSpec(gcode, adopt=adopt)
    blocks = _cms_blocks(data["cms_blocks"], mappings_dir, out) if "cms_blocks" in data else []
    cart_rules = _cart_rules(data["cart_rules"], out) if "cart_rules" in data else []
    catalog_rules = (
        _catalog_rules(data["catalog_rules"], config, out) if "catalog_rules" in data else []
    )
    if "group" not in data:
        if "cms_blocks" in data:
            out.add("cms_blocks", "needs a [group] in the same file (blocks are shown per group)")
        if "cart_rules" in data:
            out.add("cart_rules", "needs a [group] in the same file (rules apply per group)")
        if "catalog_rules" in data:
            out.add("catalog_rules", "needs a [group] in the same file (rules apply per group)")
    if code is None or conditions is None:
        return None
    return Segment(
        code=code,
        name=name,
        description=description,
        active=active,
        website=website,
        priority=priority,
        conditions=conditions,
        group=group,
        cms_blocks=blocks,
        cart_rules=cart_rules,
        catalog_rules=catalog_rules,
        holdout=holdout,
        source=source,
        raw=data,
    )
