"""Gather the planner's inputs from the store (and the live group list)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, column, false, select, table
from sqlalchemy.orm import Session

from bridge.errors import ConfigError
from bridge.push.plan import (
    BlockSpec,
    CustomerRow,
    HomeRow,
    ObjectRow,
    PlanInputs,
    RuleSpec,
    SegmentMap,
    catalog_fields,
)
from bridge.store.models import Customer, StoreView, Website
from bridge.store.push_tables import PushCustomer, PushObject

segment_members = table(
    "segment_members", column("segment_code"), column("customer_id"), column("holdout")
)


def _num(value: Decimal | float | int | None) -> float | None:
    return float(value) if value is not None else None


def rule_fields(spec: Any) -> dict[str, Any]:
    """The Magento fields a segment file's ``[[cart_rules]]`` entry sets."""
    out: dict[str, Any] = {
        "simple_action": spec.simple_action,
        "discount_amount": _num(spec.discount_amount),
        "stop_rules_processing": bool(spec.stop_rules_processing),
        "discount_step": int(spec.discount_step or 0),
        "apply_to_shipping": bool(spec.apply_to_shipping or False),
        "sort_order": int(spec.sort_order or 0),
    }
    if spec.discount_qty is not None:
        out["discount_qty"] = _num(spec.discount_qty)
    if spec.from_date is not None:
        out["from_date"] = spec.from_date.isoformat()
    if spec.to_date is not None:
        out["to_date"] = spec.to_date.isoformat()
    return out


def segment_maps(engine: Engine, segments: Iterable[Any]) -> list[SegmentMap]:
    """The loader's segments as the planner sees them (website codes -> ids)."""
    with Session(engine) as s:
        websites = {code: wid for wid, code in s.execute(select(Website.id, Website.code))}
    out: list[SegmentMap] = []
    problems: list[str] = []
    for seg in segments:
        website_id: int | None = None
        if seg.website:
            if seg.website not in websites:
                problems.append(
                    f"{seg.source}: website: {seg.website!r} is not a website of the shop "
                    f"(known: {', '.join(sorted(websites)) or 'none synced yet'})"
                )
                continue
            website_id = websites[seg.website]
        blocks = tuple(
            BlockSpec(b.identifier, b.title, b.content, bool(b.active), tuple(b.stores))
            for b in seg.cms_blocks
        )
        rules = tuple(
            RuleSpec(i, r.name, r.coupon_code or "", rule_fields(r))
            for i, r in enumerate(seg.cart_rules)
        )
        catalog = tuple(
            RuleSpec(i, r.name, "", catalog_fields(r))
            for i, r in enumerate(getattr(seg, "catalog_rules", ()))
        )
        out.append(
            SegmentMap(
                code=seg.code,
                active=bool(seg.active),
                priority=int(seg.priority),
                website_id=website_id,
                group_code=seg.group.code if seg.group else None,
                description=seg.description or "",
                blocks=blocks,
                rules=rules,
                catalog_rules=catalog,
            )
        )
    if problems:
        raise ConfigError(problems)
    return out


def group_index(groups: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, str]]:
    """code.casefold() -> (id, code) from Magento's group list."""
    return {str(g["code"]).casefold(): (int(g["id"]), str(g["code"])) for g in groups}


def gather(
    engine: Engine,
    maps: list[SegmentMap],
    groups: Mapping[str, tuple[int, str]],
    movable_groups: tuple[str, ...],
    adopt_drift: bool,
    *,
    adopt_customers: bool = False,
) -> PlanInputs:
    live = [m.code for m in maps if m.active and m.group_code]
    with Session(engine) as s:
        customers = [
            CustomerRow(cid, wid, gid)
            for cid, wid, gid in s.execute(
                select(Customer.id, Customer.website_id, Customer.group_id)
                .where(Customer.deleted.is_(False))
                .order_by(Customer.id)
            )
        ]
        homes = {
            r.customer_id: HomeRow(r.home_group_id, r.written_group_id, r.overridden_target_id)
            for r in s.scalars(select(PushCustomer))
        }
        # A held-out member is treated as not in that segment: they get the group of
        # their next segment by priority, else their home group (bridge.lift.holdout).
        memberships: dict[int, list[str]] = defaultdict(list)
        if live:
            rows = s.execute(
                select(segment_members.c.customer_id, segment_members.c.segment_code).where(
                    segment_members.c.segment_code.in_(live),
                    segment_members.c.holdout == false(),
                )
            )
            for cid, code in rows:
                memberships[int(cid)].append(code)
        objects = [
            ObjectRow(
                o.kind, o.key, o.segment_code, o.magento_id, o.active, o.fingerprint,
                o.store_id, o.store_code, o.identifier,
            )
            for o in s.scalars(select(PushObject))
        ]
        store_codes = {0: "all"}
        for sid, code in s.execute(select(StoreView.id, StoreView.code)):
            if sid != 0:
                store_codes[sid] = code
        website_ids = [w for w in s.scalars(select(Website.id)) if w != 0]
    return PlanInputs(
        customers=customers,
        homes=homes,
        memberships=memberships,
        segments=maps,
        groups=groups,
        objects=objects,
        store_codes=store_codes,
        website_ids=website_ids,
        movable_groups=movable_groups,
        adopt_drift=adopt_drift,
        adopt_customers=adopt_customers,
    )
