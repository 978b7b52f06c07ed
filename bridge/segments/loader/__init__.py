"""Load `mappings/*.toml` into the typed model, reporting every problem at once.

Each problem is one line ``FILE: KEY.PATH: what is wrong`` so a merchant
fixes a whole directory in one pass; nothing is evaluated or pushed while any remain.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.segments.attributes import (
    ATTRIBUTES,
    GENDERS,
    KIND_OPERATORS,
    UNAVAILABLE,
    AttributeSpec,
    address_types,
    attribute_spec,
)
from bridge.segments.loader.content import OUTSIDE, _read_content
from bridge.segments.loader.messages import _display as _display
from bridge.segments.loader.messages import (
    _Err,
    _key,
    _os_reason,
    _Problems,
    _q,
    _unknown_keys,
    did_you_mean,
    escaped,
    look_alike_note,
)
from bridge.segments.loader.schema import (
    AGE_RE,
    BLOCK_KEYS,
    CODE_RE,
    COMBINE_KEYS,
    EARLIEST_DAY,
    GROUP_KEYS,
    GROUP_MARKER,
    LATEST_DAY,
    LEAF_KEYS,
    MAX_AGE_DAYS,
    MAX_AMOUNT,
    MAX_CONTENT_BYTES,
    MAX_COUNT,
    MAX_DEPTH,
    MAX_DESCRIPTION,
    MAX_FILE_BYTES,
    MAX_LEAVES,
    MAX_LIST,
    MAX_NAME,
    MAX_SHOWN,
    MAX_SLOT_LENGTH,
    MAX_WEBSITE_CODE,
    OPERATOR_ALIASES,
    OPS_TEXT,
    OPTION_KEYS,
    PERIOD_HINT,
    PRICE_OPERATORS,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    SLOT_RE,
    TOP_KEYS,
)
from bridge.segments.loader.text import (
    EMAIL_RE,
    ISO_DATE_RE,
    PHONE_RE,
    _invisible_characters,
    _max_length,
    _no_nul,
    _no_personal_data,
)
from bridge.segments.model import (
    MAX_GROUP_CODE,
    OPERATORS,
    CartRuleSpec,
    CmsBlockSpec,
    Combine,
    Condition,
    DateValue,
    GroupSpec,
    Period,
    PriceFilter,
    ProductFilter,
    Rule,
    Segment,
    walk_rules,
)

__all__ = [
    "AGE_RE",
    "BLOCK_KEYS",
    "CODE_RE",
    "COMBINE_KEYS",
    "EARLIEST_DAY",
    "EMAIL_RE",
    "GROUP_KEYS",
    "GROUP_MARKER",
    "ISO_DATE_RE",
    "LATEST_DAY",
    "LEAF_KEYS",
    "MAX_AGE_DAYS",
    "MAX_AMOUNT",
    "MAX_CONTENT_BYTES",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_DESCRIPTION",
    "MAX_FILE_BYTES",
    "MAX_LEAVES",
    "MAX_LIST",
    "MAX_NAME",
    "MAX_SHOWN",
    "MAX_SLOT_LENGTH",
    "MAX_WEBSITE_CODE",
    "OPERATOR_ALIASES",
    "OPS_TEXT",
    "OPTION_KEYS",
    "OUTSIDE",
    "PERIOD_HINT",
    "PHONE_RE",
    "PRICE_OPERATORS",
    "RULE_KEYS",
    "SIMPLE_ACTIONS",
    "SLOT_RE",
    "TOP_KEYS",
    "check_mappings",
    "did_you_mean",
    "escaped",
    "load_segments",
    "load_segments_with_warnings",
    "look_alike_note",
    "parse_segment",
    "segments_from_dicts",
]


def _age_days(digits: str) -> int | None:
    """The days of an age such as "30d", None beyond MAX_AGE_DAYS (never a huge int)."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(MAX_AGE_DAYS)) or int(digits) > MAX_AGE_DAYS:
        return None
    return int(digits)


def _date_value(raw: Any) -> DateValue | str:
    """A DateValue, or the reason ``raw`` is not one."""
    value = _date_value_unbounded(raw)
    if isinstance(value, DateValue) and value.kind != "age":
        day = value.day if value.kind == "date" else value.instant.date()  # type: ignore[union-attr]
        if day is None or not EARLIEST_DAY <= day <= LATEST_DAY:
            return f"{_q(raw)} is not between {EARLIEST_DAY} and {LATEST_DAY}"
    return value


def _utc(value: datetime) -> datetime | None:
    """A naive UTC datetime (None when the offset moves it out of the calendar)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return None


def _date_value_unbounded(raw: Any) -> DateValue | str:
    if isinstance(raw, datetime):
        instant = _utc(raw)
        if instant is None:
            return f"{_q(raw)} is not between {EARLIEST_DAY} and {LATEST_DAY}"
        return DateValue("instant", instant=instant)
    if isinstance(raw, date):
        return DateValue("date", day=raw)
    if isinstance(raw, str):
        m = AGE_RE.fullmatch(raw)
        if m:
            days = _age_days(m.group(1))
            if days is None:
                return f"{_q(raw)}: an age is at most {MAX_AGE_DAYS}d"
            return DateValue("age", age=timedelta(days=days))
        text = raw.strip()
        try:
            if len(text) == 10:
                return DateValue("date", day=date.fromisoformat(text))
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            instant = _utc(value)
            if instant is None:
                return f"{_q(raw)} is not between {EARLIEST_DAY} and {LATEST_DAY}"
            return DateValue("instant", instant=instant)
    return (
        f"{_q(raw)} is not a date: use an ISO date (2026-01-31), a UTC date-time "
        '(2026-01-31T12:00:00Z) or a relative age such as "30d"'
    )


def _number(raw: Any, spec: AttributeSpec) -> Decimal | str:
    """A number of the spec's kind within its limits (±10^12 and 4 decimals for money
    and quantities, 0…10^9 for counts and days), or the reason it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return f"{_q(raw)} is not a number"
    if isinstance(raw, int) and abs(raw) > MAX_AMOUNT:  # before str(): no huge conversions
        value = Decimal(1 if raw > 0 else -1) * (MAX_AMOUNT + 1)
    else:
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            return f"{_q(raw)} is not a number"
    if not value.is_finite():
        return f"{_q(raw)} is not a finite number"
    if spec.kind in ("count", "days"):
        if not 0 <= value <= MAX_COUNT:
            return f"{_q(raw)} is not within 0 and {MAX_COUNT:,}".replace(",", " ")
        if value != value.to_integral_value():
            return f"{_q(raw)} must be a whole number"
        return Decimal(int(value))
    if abs(value) > MAX_AMOUNT:
        return f"{_q(raw)} is not within ±10^12"
    if -value.as_tuple().exponent > spec.scale:  # type: ignore[operator]
        return f"{_q(raw)} has more than {spec.scale} decimals (Magento keeps {spec.scale})"
    return value


def _scalar(raw: Any, spec: AttributeSpec) -> Any | str:
    """One value of the attribute's kind; a ``str`` result that is not the kind is an error."""
    kind = spec.kind
    if kind == "string":
        if not isinstance(raw, str):
            return _Err(f"{_q(raw)} is not a string (write it in quotes)")
        return raw
    if kind in ("number", "count", "days"):
        v = _number(raw, spec)
        return _Err(v) if isinstance(v, str) else v
    if kind in ("date", "datetime"):
        v = _date_value(raw)
        return _Err(v) if isinstance(v, str) else v
    if kind == "bool" or kind == "product":
        if not isinstance(raw, bool):
            return _Err(f"{_q(raw)} is not true or false")
        return raw
    if kind == "gender":
        if not isinstance(raw, str) or raw.casefold() not in GENDERS:
            hint = did_you_mean(raw, GENDERS)
            return _Err(f"{_q(raw)} is not a gender (one of {', '.join(GENDERS)}){hint}")
        return raw.casefold()
    if kind == "segment":
        if not isinstance(raw, str):
            return _Err(f"{_q(raw)} is not a segment code")
        return raw
    return _Err(f"cannot take {_q(raw)}")


def _rule_value(
    raw: dict[str, Any], spec: AttributeSpec, op: str, path: str, out: _Problems
) -> Any:
    """The typed value of a leaf; problems go to ``out`` and None comes back."""
    has = "value" in raw
    vpath = f"{path}.value"
    if op == "<=>":
        if has:
            out.add(vpath, "the operator <=> (is undefined) takes no value")
        return None
    if not has:
        out.add(path, f"needs a value for operator {op}")
        return None
    value = raw["value"]
    if op in ("()", "!()"):
        if not isinstance(value, list) or not value:
            out.add(vpath, f'operator {op} needs a non-empty list, e.g. ["a", "b"]')
            return None
        if len(value) > MAX_LIST:
            out.add(vpath, f"has {len(value)} values, more than {MAX_LIST}")
            return None
        items = []
        for i, item in enumerate(value):
            v = _scalar(item, spec)
            if isinstance(v, _Err):
                out.add(f"{vpath}[{i}]", v.message)
                return None
            items.append(v)
        return tuple(items)
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            out.add(vpath, "operator between needs [low, high]")
            return None
        lo, hi = _scalar(value[0], spec), _scalar(value[1], spec)
        for i, v in enumerate((lo, hi)):
            if isinstance(v, _Err):
                out.add(f"{vpath}[{i}]", v.message)
                return None
        if spec.kind in ("number", "count", "days") and lo > hi:
            out.add(vpath, f"low {value[0]} is above high {value[1]}")
            return None
        if spec.kind == "string" and lo.casefold() > hi.casefold():
            out.add(vpath, f"low {_q(value[0])} sorts after high {_q(value[1])}")
            return None
        return (lo, hi)
    if isinstance(value, list):
        out.add(vpath, f"operator {op} takes one value, not a list (use () for a list)")
        return None
    v = _scalar(value, spec)
    if isinstance(v, _Err):
        out.add(vpath, v.message)
        return None
    return v


def _period(raw: Any, path: str, out: _Problems) -> Period | None:
    if isinstance(raw, str):
        m = AGE_RE.fullmatch(raw)
        if not m:
            out.add(
                path,
                f"{_q(raw)} is not a period: {PERIOD_HINT}",
            )
            return None
        days = _age_days(m.group(1))
        if days is None:
            out.add(path, f"{_q(raw)}: a period reaches back at most {MAX_AGE_DAYS}d")
            return None
        return Period(age=timedelta(days=days))
    if isinstance(raw, dict):
        _unknown_keys(raw, ("from", "to"), path, out)
        if "from" not in raw and "to" not in raw:
            out.add(path, "needs from and/or to")
            return None
        parts: dict[str, DateValue | None] = {}
        for key in ("from", "to"):
            if key in raw:
                v = _date_value(raw[key])
                if isinstance(v, str):
                    out.add(f"{path}.{key}", v)
                    return None
                parts[key] = v
        start, end = parts.get("from"), parts.get("to")
        if (
            start is not None
            and end is not None
            and start.kind != "age"
            and end.kind != "age"
            and start.resolve(datetime.min) > _end_instant(end)
        ):
            out.add(path, "from is after to")
            return None
        return Period(start=start, end=end)
    out.add(
        path,
        f"{_q(raw)} is not a period: {PERIOD_HINT}",
    )
    return None


def _end_instant(end: DateValue) -> datetime:
    if end.kind == "date" and end.day is not None:
        return datetime.combine(end.day, time.max)
    return end.resolve(datetime.min)


def _status(raw: Any, path: str, out: _Problems) -> tuple[str, ...] | None:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s for s in raw):
        out.add(
            path, 'must be a non-empty list of order status codes, e.g. ["processing", "complete"]'
        )
        return None
    if len(raw) > MAX_LIST:
        out.add(path, f"has {len(raw)} values, more than {MAX_LIST}")
        return None
    return tuple(raw)


def _product(raw: dict[str, Any], path: str, out: _Problems) -> ProductFilter:
    skus = None
    if "sku" in raw:
        v = raw["sku"]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
            out.add(f"{path}.sku", "must be a non-empty list of SKUs")
        elif len(v) > MAX_LIST:
            out.add(f"{path}.sku", f"has {len(v)} values, more than {MAX_LIST}")
        else:
            skus = tuple(v)
    name = None
    if "name_contains" in raw:
        v = raw["name_contains"]
        if not isinstance(v, str) or not v:
            out.add(f"{path}.name_contains", "must be a non-empty string")
        else:
            name = v
    price = None
    if "price" in raw:
        p = raw["price"]
        ppath = f"{path}.price"
        if not isinstance(p, dict):
            out.add(ppath, 'must be a table such as { operator = ">=", value = 100 }')
        else:
            _unknown_keys(p, ("operator", "value"), ppath, out)
            op = p.get("operator")
            if op not in PRICE_OPERATORS:
                out.add(
                    f"{ppath}.operator",
                    f"{_q(op)} is not a price operator (one of {' '.join(PRICE_OPERATORS)})",
                )
            else:
                spec = AttributeSpec("price", "number", scale=4)
                val = _rule_value(p, spec, op, ppath, out)
                if val is not None:
                    price = PriceFilter(op, val)
    return ProductFilter(skus=skus, name_contains=name, price=price)


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
    if attr in UNAVAILABLE:
        out.add(f"{path}.attribute", UNAVAILABLE[attr])
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
        if period is not None and ctx.since is not None:
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


def _bool(raw: dict[str, Any], key: str, default: bool, path: str, out: _Problems) -> bool:
    v = raw.get(key, default)
    if not isinstance(v, bool):
        out.add(f"{path}{key}", f"{_q(v)} is not true or false")
        return default
    return v


def _str(
    raw: dict[str, Any], key: str, default: str | None, path: str, out: _Problems
) -> str | None:
    v = raw.get(key, default)
    if v is not None and not isinstance(v, str):
        out.add(f"{path}{key}", f"{_q(v)} is not a string")
        return default
    return v


def _int(
    raw: dict[str, Any], key: str, path: str, out: _Problems, minimum: int | None = 0
) -> int | None:
    if key not in raw:
        return None
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        out.add(
            f"{path}{key}",
            f"{_q(v)} is not a whole number" + (f" ≥ {minimum}" if minimum is not None else ""),
        )
        return None
    return v


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


def _to_date(raw: Any) -> date | None:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip()[:10]) if len(raw.strip()) == 10 else None
        except ValueError:
            return None
    return None


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
    if "group" not in data:
        if "cms_blocks" in data:
            out.add("cms_blocks", "needs a [group] in the same file (blocks are shown per group)")
        if "cart_rules" in data:
            out.add("cart_rules", "needs a [group] in the same file (rules apply per group)")
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
        source=source,
        raw=data,
    )


def _check_together(
    segments: list[Segment], names: dict[str, str], config: Any, problems: list[str]
) -> None:
    """The checks that need every file: unique codes, references, cycles, groups."""
    by_code: dict[str, Segment] = {}
    for seg in segments:
        if seg.code in by_code:
            problems.append(
                f"{names[seg.code + '@' + str(seg.source)]}: code: {_q(seg.code)} "
                "is also the code of "
                f"{names[seg.code + '@' + str(by_code[seg.code].source)]}"
            )
            continue
        by_code[seg.code] = seg
    active = {c: s for c, s in by_code.items() if s.active}

    def where(seg: Segment) -> str:
        return names[seg.code + "@" + str(seg.source)]

    managed: dict[str, str] = {}
    for seg in active.values():
        if seg.group:
            managed.setdefault(seg.group.code.casefold(), seg.code)

    for seg in by_code.values():
        for rule in walk_rules(seg.conditions):
            if rule.attribute == "segment":
                for i, ref in enumerate(rule.value):
                    p = f"{where(seg)}: {rule.path}.value"
                    p = p if len(rule.value) == 1 else f"{p}[{i}]"
                    if ref not in by_code:
                        problems.append(f"{p}: {_q(ref)} is not a segment code")
                    elif seg.active and ref not in active:
                        problems.append(f"{p}: segment {_q(ref)} is not active")
                    elif ref == seg.code:
                        problems.append(f"{p}: a segment cannot refer to itself")
            elif rule.attribute == "customer.group" and seg.active:
                for gcode in _managed_matches(rule, managed):
                    problems.append(
                        f"{where(seg)}: {rule.path}: group {_q(gcode)} is managed by segbridge "
                        f"(segment {managed[gcode.casefold()]}); test membership with a "
                        "segment condition instead"
                    )

    # cycles among active segments (self-reference reported above)
    graph = {
        c: sorted(r for r in s.references if r in active and r != c) for c, s in active.items()
    }
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    problems.append(
                        f"{where(active[nxt])}: conditions: segment references form a cycle: "
                        + " → ".join(cycle)
                    )
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for code in sorted(graph):
        if code not in state:
            visit(code)

    grouped = sorted((s for s in active.values() if s.group), key=lambda s: s.code)
    for i, a in enumerate(grouped):
        for b in grouped[i + 1 :]:
            if a.priority == b.priority and (
                a.website is None or b.website is None or a.website == b.website
            ):
                problems.append(
                    f"{where(b)}: priority: {b.priority} equals the priority of {a.code} "
                    f"({where(a)}); two segments with a [group] need different priorities "
                    "unless their websites differ"
                )
    limit = getattr(getattr(config, "push", None), "max_managed_groups", None)
    if limit is not None and len(managed) > limit:
        problems.append(
            f"{names.get('@dir', 'mappings')}: group: active segments name {len(managed)} groups "
            f"({', '.join(sorted(managed))}), more than push.max_managed_groups = {limit}"
        )


def _managed_matches(rule: Rule, managed: dict[str, str]) -> list[str]:
    """Managed group codes (folded) that a positive customer.group test would match."""
    if rule.operator == "==":
        values = [rule.value]
    elif rule.operator == "()":
        values = list(rule.value)
    elif rule.operator == "{}":
        needle = rule.value.casefold()
        return [g for g in managed if needle in g]
    else:
        return []
    return [v.casefold() for v in values if v.casefold() in managed]


def _read_toml(path: Path) -> dict[str, Any] | _Err:
    """One segment file's table, or one line saying why it cannot be read.

    tomllib recurses once per nested inline table or array, so a deeply nested file
    ends in RecursionError; a huge integer literal in ValueError. Neither is a traceback.
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        with path.open("rb") as fh:
            text = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _Err(f"cannot read: {_os_reason(exc)}")
    if len(text) > MAX_FILE_BYTES:
        return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _Err(f"not valid TOML: not UTF-8 text (byte {exc.start})")
    except tomllib.TOMLDecodeError as exc:
        return _Err(f"not valid TOML: {exc}")
    except RecursionError:
        return _Err("not valid TOML for segbridge: tables or arrays nest too deeply")
    except ValueError as exc:  # Python refuses to read integers of more than 4300 digits
        if "digits" in str(exc):
            return _Err("not valid TOML for segbridge: a number has thousands of digits")
        return _Err(f"not valid TOML: {_q(str(exc))}")


def _read_all(directory: Path, config: Any) -> tuple[list[Segment], list[str], list[str]]:
    base = getattr(config, "base_dir", None) if config is not None else None
    problems: list[str] = []
    warnings: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": _display(directory, base)}
    if not directory.is_dir():
        return [], [f"{_display(directory, base)}: mappings directory not found"], []
    for path in sorted(directory.glob("*.toml")):
        if _editor_file(path.name):
            continue
        shown = _display(path, base)
        out = _Problems(shown)
        data = _read_toml(path)
        if isinstance(data, _Err):
            problems.append(f"{shown}: {data.message}")
            continue
        seg = parse_segment(data, path, config, out, directory)
        problems.extend(out.problems)
        warnings.extend(out.warnings)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(path)] = shown
    _check_together(segments, names, config, problems)
    return segments, problems, warnings


def _editor_file(name: str) -> bool:
    """A hidden or editor file, not a segment file: names starting with "." (Emacs' lock
    link .#vip.toml, vim's .vip.toml.swp, LibreOffice's .~lock) or "~", or ending in "~"
    (backups). pathlib's glob matches hidden files, which a shell's does not."""
    return name.startswith((".", "~")) or name.endswith("~")


def check_mappings(config: Any, directory: Path | None = None) -> tuple[list[str], list[str]]:
    """(problems, warnings) for ``segbridge check``; problems make it exit 2."""
    directory = directory or config.mappings.dir
    _segments, problems, warnings = _read_all(Path(directory), config)
    return problems, warnings


def load_segments(directory: Path, config: Any) -> list[Segment]:
    """Every segment file in ``directory``, validated; raises ConfigError with all problems."""
    segments, problems, _warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments


def load_segments_with_warnings(directory: Path, config: Any) -> tuple[list[Segment], list[str]]:
    segments, problems, warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments, warnings


def segments_from_dicts(
    datas: list[dict[str, Any]], config: Any, mappings_dir: Path | None = None
) -> list[Segment]:
    """Segments from already-parsed TOML tables (tests, tools), validated like files."""
    problems: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": "<memory>"}
    for i, data in enumerate(datas):
        shown = f"<segment {data.get('code', i)}>"
        out = _Problems(shown)
        source = Path(f"{data.get('code', i)}.toml")
        seg = parse_segment(data, source, config, out, mappings_dir or Path.cwd())
        problems.extend(out.problems)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(source)] = shown
    _check_together(segments, names, config, problems)
    if problems:
        raise ConfigError(problems)
    return segments
