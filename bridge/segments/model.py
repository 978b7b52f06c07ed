"""The typed segment model: what a `mappings/*.toml` file means once validated.

The loader turns TOML into these frozen dataclasses; the SQL compiler, the reference
evaluator and the push planner all read them, never the raw TOML. Values are already
normalised: strings are kept as written (the compiler and the reference fold them),
numbers are exact ``Decimal``, dates are ``DateValue``, lists are tuples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

OPERATORS: tuple[str, ...] = (
    "==",
    "!=",
    ">=",
    ">",
    "<=",
    "<",
    "{}",
    "!{}",
    "()",
    "!()",
    "<=>",
    "between",
)
LIST_OPERATORS = ("()", "!()")
DAY = timedelta(days=1)
# Magento's GROUP_CODE_MAX_LENGTH (32): longer codes are truncated silently, so
# the loader refuses them in segment files and push refuses them again before writing.
MAX_GROUP_CODE = 32


@dataclass(frozen=True)
class DateValue:
    """A date in a condition: a calendar day, a UTC instant, or an age before as-of.

    ``kind`` is ``"date"`` (a whole UTC day), ``"instant"`` (a UTC date-time) or
    ``"age"`` (``"30d"``: the instant as-of − 30 × 24 h).
    """

    kind: Literal["date", "instant", "age"]
    day: date | None = None
    instant: datetime | None = None
    age: timedelta | None = None

    def resolve(self, as_of: datetime) -> datetime:
        """The instant this value stands for (a day: its first instant)."""
        if self.kind == "date":
            assert self.day is not None
            return datetime.combine(self.day, time())
        if self.kind == "instant":
            assert self.instant is not None
            return self.instant
        assert self.age is not None
        return as_of - self.age

    def day_of(self, as_of: datetime) -> date:
        """The UTC calendar day this value falls on."""
        if self.kind == "date":
            assert self.day is not None
            return self.day
        return self.resolve(as_of).date()

    def text(self) -> str:
        if self.kind == "date":
            return self.day.isoformat() if self.day else ""
        if self.kind == "instant":
            return self.instant.isoformat(sep=" ") if self.instant else ""
        return f"{self.age.days}d" if self.age else ""


@dataclass(frozen=True)
class Period:
    """Which orders a sales/product condition looks at: ``"90d"`` or ``{from, to}``.

    ``age``: created_at ≥ as-of − age. ``start``/``end``: bounds; a date-only ``end``
    includes that whole day. Every order also has to be placed no later than as-of.
    """

    age: timedelta | None = None
    start: DateValue | None = None
    end: DateValue | None = None

    def bounds(self, as_of: datetime) -> tuple[datetime | None, datetime, bool]:
        """(lowest created_at included, upper bound, whether the upper bound is included)."""
        if self.age is not None:
            return as_of - self.age, as_of, True
        lo = self.start.resolve(as_of) if self.start else None
        if self.end is None:
            return lo, as_of, True
        if self.end.kind == "date":
            assert self.end.day is not None
            hi = datetime.combine(self.end.day + DAY, time())
            if hi <= as_of:
                return lo, hi, False
            return lo, as_of, True
        hi = self.end.resolve(as_of)
        return lo, min(hi, as_of), True

    def text(self) -> str:
        if self.age is not None:
            return f"{self.age.days}d"
        start = self.start.text() if self.start else "…"
        return f"{start} to {self.end.text() if self.end else 'now'}"


@dataclass(frozen=True)
class PriceFilter:
    operator: str
    value: Decimal | tuple[Decimal, ...]


@dataclass(frozen=True)
class ProductFilter:
    """Which item rows a product condition looks for (all given parts must hold)."""

    skus: tuple[str, ...] | None = None
    name_contains: str | None = None
    price: PriceFilter | None = None


@dataclass(frozen=True)
class Rule:
    """A leaf condition. ``path`` is its key path in the file, for messages."""

    attribute: str
    operator: str
    value: Any = None
    aggregate: str | None = None  # sales.amount / sales.qty: total | average
    period: Period | None = None
    status: tuple[str, ...] | None = None  # None: every status except canceled
    address_type: str | None = None
    product: ProductFilter | None = None
    path: str = ""

    @property
    def is_combine(self) -> bool:
        return False


@dataclass(frozen=True)
class Combine:
    """Magento's Combine: ``match`` all|any × ``value`` true|false over ``rules``."""

    match: Literal["all", "any"] = "all"
    value: bool = True
    rules: tuple[Condition, ...] = ()
    path: str = "conditions"

    @property
    def is_combine(self) -> bool:
        return True


Condition = Rule | Combine


@dataclass(frozen=True)
class GroupSpec:
    """A segment's ``[group]``. ``adopt``: the file takes over an existing group that holds
    customers segbridge did not put there (``check --online`` refuses that otherwise)."""

    code: str
    adopt: bool = False


@dataclass(frozen=True)
class CmsBlockSpec:
    identifier: str
    title: str
    content: str  # the text of content_file
    active: bool = True
    stores: tuple[int, ...] = (0,)
    content_file: str = ""


@dataclass(frozen=True)
class CartRuleSpec:
    name: str
    simple_action: str
    discount_amount: Decimal
    coupon_code: str = ""
    from_date: date | None = None
    to_date: date | None = None
    stop_rules_processing: bool = False
    discount_step: int | None = None
    discount_qty: Decimal | None = None
    apply_to_shipping: bool | None = None
    sort_order: int | None = None


@dataclass(frozen=True)
class CatalogRuleSpec:
    """A ``[[catalog_rules]]`` entry: a catalog price rule for the segment's group (it
    needs the storefront module; ``skus`` empty: every product)."""

    name: str
    simple_action: str
    discount_amount: Decimal
    skus: tuple[str, ...] = ()
    from_date: date | None = None
    to_date: date | None = None
    stop_rules_processing: bool = False
    sort_order: int | None = None


@dataclass(frozen=True)
class Segment:
    code: str
    name: str
    conditions: Combine
    description: str = ""
    active: bool = True
    website: str | None = None
    priority: int = 0
    group: GroupSpec | None = None
    cms_blocks: list[CmsBlockSpec] = field(default_factory=list)
    cart_rules: list[CartRuleSpec] = field(default_factory=list)
    catalog_rules: list[CatalogRuleSpec] = field(default_factory=list)
    holdout: float = 0.0  # the share of members held out of the push (bridge.lift.holdout)
    source: Path = Path()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def references(self) -> set[str]:
        """Codes of the segments this one's `segment` conditions name."""
        found: set[str] = set()

        def walk(node: Condition) -> None:
            if isinstance(node, Combine):
                for child in node.rules:
                    walk(child)
            elif node.attribute == "segment":
                found.update(node.value)

        walk(self.conditions)
        return found

    @property
    def definition_hash(self) -> str:
        """A stable digest of the file's meaning (raw TOML + block contents)."""
        payload = {
            "raw": self.raw,
            "blocks": [b.content for b in self.cms_blocks],
        }
        text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def walk_rules(node: Condition) -> list[Rule]:
    """Every leaf under ``node``, in file order."""
    if isinstance(node, Rule):
        return [node]
    out: list[Rule] = []
    for child in node.rules:
        out.extend(walk_rules(child))
    return out


def reachable(codes: Iterable[str], by_code: Mapping[str, Segment]) -> Iterator[str]:
    """``codes`` and every segment they reference through ``segment`` conditions,
    transitively, each once (codes with no segment in ``by_code`` are yielded too)."""
    todo, seen = list(codes), set()
    while todo:
        code = todo.pop()
        if code in seen:
            continue
        seen.add(code)
        yield code
        ref = by_code.get(code)
        if ref is not None:
            todo.extend(ref.references)


def managed_group_ids(
    recorded: Iterable[int], groups: dict[int, str], segments: Iterable[Segment]
) -> frozenset[int]:
    """The groups segbridge manages: those the push recorded (``push_groups``) and those
    active segments name in ``[group]`` (matched by code without case).

    A customer whose current group is not one of them has it as their home group: a
    person put them there, so `customer.group` sees it in the very run that syncs it.
    """
    named = {s.group.code.casefold() for s in segments if s.active and s.group is not None}
    by_code = {gid for gid, code in groups.items() if code.casefold() in named}
    return frozenset(recorded) | by_code


def home_group_id(
    current: int | None, recorded_home: int | None, managed: frozenset[int]
) -> int | None:
    """The home group of a customer now in ``current``: that group unless segbridge
    manages it, else the home group the push recorded (else, unknown, the current one)."""
    if current is None or current not in managed:
        return current
    return recorded_home if recorded_home is not None else current
