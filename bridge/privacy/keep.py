"""Keep only what is used: which personal fields the active segments read, and the store's
record of which it holds (``privacy_kept``).

With ``privacy.keep = "used"`` (the default) the sync asks Magento for the identity fields
of each customer (id, email, group, website, store, timestamps, default address ids) plus
only the personal fields, address fields and custom attributes some active segment reads,
and for orders only the order-address fields segments read (``fields=`` on every list
request, so the rest is never even fetched). ``privacy_kept`` records, per entity, the
fields held for every record since its last full pull:

* a field an active segment reads that is not held makes the next sync pull that entity
  whole (customers, or orders for order-address fields) and ``evaluate`` refuse the
  segments that read it until then;
* a field held that no active segment reads any more is set to null in the store at the
  next sync (no request needed).

``keep = "all"`` holds every field (``"*"`` in ``privacy_kept``), as segbridge did before.
Field names here are the store's: ``firstname``, ``dob``, ``address.city`` (an address-book
field), ``attribute.loyalty_tier`` (a custom attribute) for customers; ``address.city`` (an
order's billing or shipping address) for orders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from bridge.segments.attributes import ADDRESS_FIELDS, CUSTOM_PREFIX
from bridge.segments.model import Segment, reachable, walk_rules
from bridge.store import models as m
from bridge.store.privacy_tables import PrivacyKept
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

ALL = "*"
NONE = "-"  # a row that says the entity is known to hold no personal field
ENTITIES = ("customers", "orders")
KEPT = PrivacyKept.__table__

# Customer columns that are personal and only kept when read (the store's names).
CUSTOMER_TEXT = ("firstname", "lastname", "middlename", "prefix", "suffix", "taxvat",
                 "created_in")
CUSTOMER_OTHER = ("gender", "dob", "is_subscribed")
CUSTOMER_PERSONAL = CUSTOMER_TEXT + CUSTOMER_OTHER
ADDRESS_PERSONAL = tuple(f"address.{f}" for f in ADDRESS_FIELDS)

# Magento's JSON keys of a customer that are always asked for: who they are, where, when.
CUSTOMER_IDENTITY_KEYS = (
    "id", "email", "group_id", "website_id", "store_id", "created_at", "updated_at",
    "default_billing", "default_shipping", "disable_auto_group_change",
)
# An order's own fields (transform.ORDER_FIELDS without the addresses): none personal but
# the e-mail, which is how a guest order is linked to its customer.
ORDER_BASE_KEYS = (
    "entity_id", "increment_id", "customer_id", "customer_email", "customer_is_guest",
    "customer_group_id", "store_id", "status", "state", "created_at", "updated_at",
    "base_grand_total", "grand_total", "subtotal", "total_qty_ordered", "base_currency_code",
    "items[item_id,parent_item_id,product_id,product_type,sku,name,price,base_price,"
    "qty_ordered,row_total]",
)
OPT_OUT_VALUES = ("1", "true", "yes")


# --- what segments read -----------------------------------------------------------------


def rule_fields(attribute: str) -> tuple[str, str] | None:
    """(entity, field) a condition's attribute reads, or None for identity/derived data."""
    if attribute.startswith(CUSTOM_PREFIX):
        return "customers", "attribute." + attribute[len(CUSTOM_PREFIX):]
    if attribute.startswith("customer."):
        f = attribute[len("customer."):]
        if f in CUSTOMER_TEXT or f in ("gender", "dob", "is_subscribed"):
            return "customers", f
        if f == "days_until_birthday":
            return "customers", "dob"
        return None
    if attribute.startswith("address."):
        f = attribute[len("address."):]
        return ("customers", f"address.{f}") if f in ADDRESS_FIELDS else None
    if attribute.startswith("sales.order_address."):
        f = attribute[len("sales.order_address."):]
        return ("orders", f"address.{f}") if f in ADDRESS_FIELDS else None
    return None


def segment_fields(seg: Segment) -> dict[str, set[str]]:
    """The personal fields one segment's own conditions read, by entity."""
    out: dict[str, set[str]] = {e: set() for e in ENTITIES}
    for rule in walk_rules(seg.conditions):
        got = rule_fields(rule.attribute)
        if got is not None:
            out[got[0]].add(got[1])
    return out


def opt_out_code(config: Any) -> str:
    privacy = getattr(config, "privacy", None)
    return str(getattr(privacy, "opt_out_attribute", "") or "")


def fields_read(segments: Iterable[Segment], config: Any = None) -> dict[str, frozenset[str]]:
    """The personal fields the active segments read (and the opt-out attribute), by
    entity: what ``keep = "used"`` holds."""
    out: dict[str, set[str]] = {e: set() for e in ENTITIES}
    for seg in segments:
        if not seg.active:
            continue
        for entity, names in segment_fields(seg).items():
            out[entity] |= names
    code = opt_out_code(config)
    if code:
        out["customers"].add(f"attribute.{code}")
    return {e: frozenset(v) for e, v in out.items()}


def load_active_segments(config: Any) -> list[Segment]:
    """The mappings' segments (none when the directory does not exist: a sync needs no
    mappings); bad files raise ``ConfigError`` as everywhere."""
    from bridge.segments.loader import load_segments

    directory = Path(getattr(getattr(config, "mappings", None), "dir", "mappings"))
    if not directory.is_dir():
        return []
    return [s for s in load_segments(directory, config) if s.active]


# --- what the store holds ---------------------------------------------------------------


def kept_fields(conn: Connection, empty_is_all: bool = False) -> dict[str, frozenset[str]]:
    """The fields held for every record of each entity. No row for an entity whose table
    has rows: a store filled before this record existed, which held every field (``*``).
    ``empty_is_all``: an entity with no record at all lacks nothing either (nothing can
    be judged on a field it does not hold)."""
    rows = conn.execute(select(KEPT.c.entity, KEPT.c.field)).all()
    out: dict[str, set[str]] = {e: set() for e in ENTITIES}
    known = {entity for entity, _ in rows}
    for entity, name in rows:
        if name != NONE:
            out.setdefault(entity, set()).add(name)
    for entity, table in (("customers", m.Customer.__table__), ("orders", m.Order.__table__)):
        if entity not in known:
            has_rows = conn.execute(select(func.count()).select_from(
                select(table.c.id).limit(1).subquery())).scalar_one()
            if has_rows or empty_is_all:
                out[entity] = {ALL}
    return {e: frozenset(v) for e, v in out.items()}


def missing(needed: frozenset[str], kept: frozenset[str]) -> frozenset[str]:
    return frozenset() if ALL in kept else needed - kept


def record_kept(conn: Connection, entity: str, fields: Iterable[str]) -> None:
    """``entity`` now holds exactly ``fields`` for every record."""
    conn.execute(delete(KEPT).where(KEPT.c.entity == entity))
    now = utcnow()
    rows = [{"entity": entity, "field": f, "kept_since": now}
            for f in sorted(set(fields) | {NONE})]
    conn.execute(insert(KEPT), rows)


# --- the sync's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class SyncPolicy:
    """What one sync asks Magento for and keeps. ``keep_all``: every field."""

    keep_all: bool
    needed: dict[str, frozenset[str]]
    kept: dict[str, frozenset[str]]
    attr_codes: tuple[str, ...]

    @property
    def refetch(self) -> frozenset[str]:
        """Entities to pull whole: fields are wanted that the store does not hold."""
        return frozenset(e for e in ENTITIES if self.missing(e))

    def missing(self, entity: str) -> frozenset[str]:
        kept = self.kept.get(entity, frozenset())
        if self.keep_all:
            return frozenset() if ALL in kept else frozenset({ALL})
        return missing(self.needed.get(entity, frozenset()), kept)

    def after_full(self, entity: str) -> frozenset[str]:
        """What ``entity`` holds once pulled whole under this policy."""
        return frozenset({ALL}) if self.keep_all else self.needed.get(entity, frozenset())

    def customer_fields(self) -> tuple[str, ...] | None:
        """``fields=`` for customer lists (None: whole records)."""
        if self.keep_all:
            return None
        need = self.needed["customers"]
        keys = list(CUSTOMER_IDENTITY_KEYS)
        keys += [f for f in CUSTOMER_TEXT if f in need]
        keys += [f for f in ("gender", "dob") if f in need]
        if "is_subscribed" in need:
            keys.append("extension_attributes[is_subscribed]")
        addr = [f for f in ADDRESS_FIELDS if f"address.{f}" in need]
        if "address.region" in need or "address.region_code" in need:
            addr = [f for f in addr if f not in ("region", "region_code")] + [
                "region[region,region_code,region_id]"]
        keys.append(f"addresses[{','.join(['id', *addr])}]")
        if self.attr_codes:
            keys.append("custom_attributes[attribute_code,value]")
        return tuple(keys)

    def order_fields(self, whole: tuple[str, ...]) -> tuple[str, ...]:
        """``fields=`` for order lists: ``whole`` (transform.ORDER_FIELDS) or, keeping
        only what is used, its address parts cut to the fields segments read."""
        if self.keep_all:
            return whole
        addr = [f for f in ADDRESS_FIELDS if f"address.{f}" in self.needed["orders"]]
        if not addr:
            return ORDER_BASE_KEYS
        if "region" in addr or "region_code" in addr:
            addr.append("region_id")
        keys = ",".join(addr)
        return (*ORDER_BASE_KEYS, f"billing_address[{keys}]",
                f"extension_attributes[shipping_assignments[shipping[address[{keys}]]]]")

    def strip(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """A whole record (one fetched by id, where ``fields=`` does not apply) cut to
        what this policy keeps."""
        if self.keep_all or entity not in ENTITIES or not isinstance(record, dict):
            return record
        need = self.needed[entity]
        out = dict(record)
        if entity == "customers":
            for f in CUSTOMER_PERSONAL:
                if f not in need:
                    out.pop(f, None)
            if "is_subscribed" not in need:
                out.pop("extension_attributes", None)
            out["addresses"] = [_strip_address(a, need) for a in out.get("addresses") or []
                                if isinstance(a, dict)]
            return out
        if not any(f.startswith("address.") for f in need):
            out.pop("billing_address", None)
            out.pop("extension_attributes", None)
            return out
        if isinstance(out.get("billing_address"), dict):
            out["billing_address"] = _strip_address(out["billing_address"], need)
        ext = out.get("extension_attributes")
        if isinstance(ext, dict):
            assignments = []
            for a in ext.get("shipping_assignments") or []:
                ship = a.get("shipping") if isinstance(a, dict) else None
                addr = ship.get("address") if isinstance(ship, dict) else None
                if isinstance(addr, dict):
                    assignments.append({"shipping": {"address": _strip_address(addr, need)}})
            out["extension_attributes"] = {"shipping_assignments": assignments}
        return out


def _strip_address(addr: dict[str, Any], need: frozenset[str]) -> dict[str, Any]:
    keep = {"id"} | {f for f in ADDRESS_FIELDS if f"address.{f}" in need}
    if keep & {"region", "region_code"}:
        keep.add("region_id")
    return {k: v for k, v in addr.items() if k in keep}


def sync_policy(conn: Connection, config: Any, segments: Sequence[Segment] | None = None
                ) -> SyncPolicy:
    """The policy of a sync starting now (segments: the mappings' unless given)."""
    keep_all = getattr(getattr(config, "privacy", None), "keep", "used") == "all"
    segs = list(segments) if segments is not None else load_active_segments(config)
    needed = fields_read(segs, config)
    listed = tuple(getattr(getattr(config, "sync", None), "customer_attributes", ()) or ())
    code = opt_out_code(config)
    if keep_all:
        codes = tuple(dict.fromkeys((*listed, *([code] if code else []))))
    else:
        wanted = {f[len("attribute."):] for f in needed["customers"]
                  if f.startswith("attribute.")}
        codes = tuple(c for c in dict.fromkeys((*listed, *([code] if code else [])))
                      if c in wanted)
    return SyncPolicy(keep_all, needed, kept_fields(conn), codes)


def drop_unused(conn: Connection, policy: SyncPolicy) -> dict[str, list[str]]:
    """Set to null (or delete, for custom attributes) what the store holds and the policy
    does not keep; ``privacy_kept`` follows. Returns the fields dropped, by entity."""
    dropped: dict[str, list[str]] = {}
    if policy.keep_all:
        return dropped
    for entity in ENTITIES:
        kept = policy.kept.get(entity, frozenset())
        need = policy.needed[entity]
        if ALL in kept:
            if entity == "customers":
                universe = set(CUSTOMER_PERSONAL) | set(ADDRESS_PERSONAL) | {
                    "attribute.*"}
            else:
                universe = set(ADDRESS_PERSONAL)
            extra = universe - need
        else:
            extra = set(kept - need)
        if not extra:
            continue
        _null_fields(conn, entity, extra, need)
        dropped[entity] = sorted(extra)
        still = (kept & need) if ALL not in kept else need
        record_kept(conn, entity, still)
    return dropped


def _cols(table: Any, names: Iterable[str]) -> dict[str, None]:
    out: dict[str, None] = {}
    for name in names:
        if name in table.c:
            out[name] = None
            if f"{name}_ci" in table.c:
                out[f"{name}_ci"] = None
    return out


def _null_fields(conn: Connection, entity: str, extra: set[str], need: frozenset[str]) -> None:
    addr = [f[len("address."):] for f in extra if f.startswith("address.")]
    if entity == "customers":
        own = _cols(m.Customer.__table__, [f for f in extra if f in CUSTOMER_PERSONAL])
        if own:
            conn.execute(update(m.Customer.__table__).values(**own))
        values = _cols(m.CustomerAddress.__table__, addr)
        if values:
            conn.execute(update(m.CustomerAddress.__table__).values(**values))
        ca = m.CustomerAttribute.__table__
        wanted = [f[len("attribute."):] for f in need if f.startswith("attribute.")]
        if any(f.startswith("attribute.") for f in extra):
            conn.execute(delete(ca).where(ca.c.code.not_in(wanted)) if wanted else delete(ca))
    else:
        values = _cols(m.OrderAddress.__table__, addr)
        if values:
            conn.execute(update(m.OrderAddress.__table__).values(**values))


# --- the evaluation's side ---------------------------------------------------------------


def refused_segments(conn: Connection, segments: Sequence[Segment],
                     wanted: Sequence[Segment]) -> dict[str, str]:
    """Wanted segments that read a field the store does not hold (or depend on one that
    does), each with the one line that says so and what to do."""
    kept = kept_fields(conn, empty_is_all=True)
    by_code = {s.code: s for s in segments}
    own: dict[str, list[str]] = {}
    for seg in segments:
        if not seg.active:
            continue
        lacking: list[str] = []
        for entity, names in segment_fields(seg).items():
            lacking += [_shown(entity, f) for f in
                        sorted(missing(frozenset(names), kept.get(entity, frozenset())))]
        if lacking:
            own[seg.code] = lacking
    out: dict[str, str] = {}
    for seg in wanted:
        lacking = own.get(seg.code)
        if lacking:
            out[seg.code] = (
                f"segment {seg.code} reads {', '.join(lacking)}, which the "
                "store does not hold yet (privacy.keep = \"used\"): run `segbridge sync` to "
                "fetch it; not evaluated")
            continue
        via = _depends_on(seg, by_code, set(own))
        if via:
            out[seg.code] = (
                f"segment {seg.code} uses segment {via}, which reads a field the store does "
                "not hold yet: run `segbridge sync` to fetch it; not evaluated")
    return out


def _depends_on(seg: Segment, by_code: dict[str, Segment], bad: set[str]) -> str | None:
    return next((code for code in reachable(seg.references, by_code) if code in bad), None)


def _shown(entity: str, name: str) -> str:
    """A field as a condition names it."""
    if entity == "orders":
        return "sales.order_" + name
    if name.startswith("attribute."):
        return CUSTOM_PREFIX + name[len("attribute."):]
    if name.startswith("address."):
        return name
    return f"customer.{name}"
