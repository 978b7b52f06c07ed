"""The ``[conditions]`` tree: combines (match, value, rules) and leaves (attribute,
operator, value and the attribute's options), with the depth and leaf-count limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.segments.attributes import (
    ATTRIBUTES,
    KIND_OPERATORS,
    UNAVAILABLE,
    address_types,
    attribute_spec,
)
from bridge.segments.loader.messages import _key, _Problems, _q, _unknown_keys, did_you_mean
from bridge.segments.loader.schema import (
    COMBINE_KEYS,
    LEAF_KEYS,
    MAX_DEPTH,
    OPERATOR_ALIASES,
    OPS_TEXT,
    OPTION_KEYS,
)
from bridge.segments.loader.values import _period, _product, _rule_value, _status
from bridge.segments.model import OPERATORS, Combine, Condition, Period, Rule

MODULE_OFF = ('; it reads segbridge\'s storefront module, and module.use = "off" '
              "(docs/storefront.md)")


def module_use(config: Any) -> str:
    """``module.use`` (auto when there is no config or no ``[module]``)."""
    return str(getattr(getattr(config, "module", None), "use", "auto") or "auto")


@dataclass
class _Context:
    config: Any
    out: _Problems
    since: timedelta | None


def _leaf(raw: dict[str, Any], path: str, ctx: _Context) -> Rule | None:
    out = ctx.out
    attr = raw.get("attribute")
    if not isinstance(attr, str):
        out.add(f"{path}.attribute", 'must be a string such as "sales.amount"')
        return None
    if attr in UNAVAILABLE and module_use(ctx.config) == "off":
        out.add(f"{path}.attribute", UNAVAILABLE[attr] + MODULE_OFF)
        return None
    spec = attribute_spec(attr)
    if spec is None:
        hint = did_you_mean(attr, [*ATTRIBUTES, *UNAVAILABLE])
        out.add(
            f"{path}.attribute",
            f"{_q(attr)} is not an attribute{hint or ''} (`segbridge attributes` lists them; "
            "see docs/segments.md)",
        )
        return None
    if spec.name.startswith("customer.attribute."):
        code = attr[len("customer.attribute.") :]
        listed = tuple(getattr(getattr(ctx.config, "sync", None), "customer_attributes", ()) or ())
        if code not in listed:
            out.add(
                f"{path}.attribute",
                f"custom attribute {_q(code)} is not listed in sync.customer_attributes",
            )
    if attr in ("cart.grand_total", "cart.tax_amount"):
        if not getattr(getattr(ctx.config, "sync", None), "cart_totals", False):
            out.add(f"{path}.attribute", f"{attr} needs sync.cart_totals = true in the config")
    known = LEAF_KEYS + spec.options
    for key in [k for k in raw if k not in known and not did_you_mean(k, known)]:
        if key.casefold() in OPTION_KEYS:  # an option of other attributes
            out.add(f"{path}.{_key(key)}", f"unknown key: {attr} takes no {key.casefold()} option")
            raw = {k: v for k, v in raw.items() if k != key}
    _unknown_keys(raw, known, path, out)
    op = raw.get("operator")
    if "operator" not in raw:
        out.add(path, "needs an operator")
        return None
    if op not in OPERATORS:
        hint = did_you_mean(op, OPERATORS, OPERATOR_ALIASES)
        out.add(
            f"{path}.operator",
            f"{_q(op)} is not an operator (one of {OPS_TEXT})" + hint.replace(";", ":", 1),
        )
        return None
    allowed = KIND_OPERATORS[spec.kind]
    if op not in allowed:
        out.add(
            f"{path}.operator", f"{op} does not apply to {attr} (use one of {' '.join(allowed)})"
        )
        return None
    value = _rule_value(raw, spec, op, path, out)
    if value is None and op != "<=>":
        return None
    aggregate = None
    if "aggregate" in spec.options:
        aggregate = raw.get("aggregate", "total")
        if aggregate not in ("total", "average"):
            hint = did_you_mean(aggregate, ("total", "average"))
            out.add(f"{path}.aggregate", f"{_q(aggregate)} is not total or average{hint}")
    period = None
    if "period" in raw and "period" in spec.options:
        period = _period(raw["period"], f"{path}.period", out)
        if period is not None and ctx.since is not None and attr not in UNAVAILABLE:
            reach = _period_reach(period)
            if reach is not None and reach > ctx.since:
                out.warn(
                    f"{path}.period",
                    f"reaches further back than sync.since ({ctx.since.days}d): "
                    "older orders are not in the store",
                )
    status = None
    if "status" in raw and "status" in spec.options:
        status = _status(raw["status"], f"{path}.status", out)
    address_type = None
    if "address_type" in spec.options:
        types = address_types(attr)
        address_type = raw.get("address_type", "any")
        if address_type not in types:
            hint = did_you_mean(address_type, types)
            out.add(
                f"{path}.address_type",
                f"{_q(address_type)} is not one of {', '.join(types)}{hint}",
            )
    product = _product(raw, path, out) if spec.kind == "product" else None
    return Rule(
        attribute=attr,
        operator=op,
        value=value,
        aggregate=aggregate,
        period=period,
        status=status,
        address_type=address_type,
        product=product,
        path=path,
    )


def _count_leaves(raw: Any) -> int:
    """Conditions (tables with an attribute) in the raw tree, down to MAX_DEPTH + 1 levels.

    Iterative, so a file nesting a thousand levels deep costs no recursion.
    """
    count = 0
    stack = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        if "attribute" in node:
            count += 1
        elif depth <= MAX_DEPTH and isinstance(node.get("rules"), list):
            stack.extend((child, depth + 1) for child in node["rules"])
    return count


def _period_reach(period: Period) -> timedelta | None:
    """How far before now the period starts (None: cannot tell / not before now)."""
    if period.age is not None:
        return period.age
    if period.start is None:
        return None
    if period.start.kind == "age":
        return period.start.age
    now = datetime.now(UTC).replace(tzinfo=None)
    return now - period.start.resolve(now)


def _combine(raw: Any, path: str, ctx: _Context, depth: int = 1) -> Combine | None:
    out = ctx.out
    if depth > MAX_DEPTH:
        out.add(path, f"conditions nest deeper than {MAX_DEPTH} levels")
        return None
    if not isinstance(raw, dict):
        out.add(path, "must be a table with match, value and rules")
        return None
    _unknown_keys(raw, COMBINE_KEYS, path, out)
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        hint = did_you_mean(match, ("all", "any"))
        out.add(f"{path}.match", f"{_q(match)} is not all or any{hint}")
        match = "all"
    value = raw.get("value", True)
    if not isinstance(value, bool):
        out.add(f"{path}.value", f"{_q(value)} is not true or false")
        value = True
    rules_raw = raw.get("rules")
    if rules_raw is None:
        out.add(path, "needs rules (an empty condition matches nothing useful)")
        return None
    if not isinstance(rules_raw, list):
        out.add(f"{path}.rules", "must be a list of conditions")
        return None
    if not rules_raw:
        out.add(f"{path}.rules", "is empty: give at least one condition")
        return None
    children: list[Condition] = []
    ok = True
    for i, child in enumerate(rules_raw):
        cpath = f"{path}.rules[{i}]"
        if not isinstance(child, dict):
            out.add(cpath, "must be a table (a condition)")
            ok = False
            continue
        if "attribute" in child:
            node: Condition | None = _leaf(child, cpath, ctx)
        elif "rules" in child or "match" in child:
            node = _combine(child, cpath, ctx, depth + 1)
        else:
            every = {*LEAF_KEYS, *COMBINE_KEYS, *OPTION_KEYS}
            unknown = [k for k in child if k not in every]
            if unknown:  # most likely a misspelt attribute (or rules): name it
                _unknown_keys(child, sorted(every), cpath, out)
            else:
                out.add(cpath, "needs attribute (a condition) or rules (a nested combine)")
            node = None
        if node is None:
            ok = False
        else:
            children.append(node)
    if not ok:
        return None
    return Combine(match=match, value=value, rules=tuple(children), path=path)
