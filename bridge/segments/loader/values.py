"""Parsing one value: numbers within their limits, dates and ages, periods, lists of
order statuses, product filters, and the plain booleans, strings and whole numbers of
the tables. Each returns the typed value, or reports to ``_Problems`` / returns the
reason as a string or ``_Err``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.segments.attributes import GENDERS, AttributeSpec
from bridge.segments.loader.messages import _Err, _Problems, _q, _unknown_keys, did_you_mean
from bridge.segments.loader.schema import (
    AGE_RE,
    EARLIEST_DAY,
    LATEST_DAY,
    MAX_AGE_DAYS,
    MAX_AMOUNT,
    MAX_COUNT,
    MAX_LIST,
    PERIOD_HINT,
    PRICE_OPERATORS,
)
from bridge.segments.model import DateValue, Period, PriceFilter, ProductFilter


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
