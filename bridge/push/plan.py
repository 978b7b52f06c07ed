"""The push plan: desired state (memberships, segment files) against actual state.

``make_plan`` is a pure function of plain values so that its rules (docs/push.md: home
groups, movable groups, priorities, drift, override memory, managed objects) can be
read and tested without a database or a shop. ``bridge.push.inputs`` gathers those
values from the store and the live group list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.segments.model import MAX_GROUP_CODE  # push.groups imports it from here

NOT_LOGGED_IN = 0
ALL_GROUPS = 32000


# --- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSpec:
    slot: str
    title: str
    content: str
    active: bool
    stores: tuple[int, ...]


@dataclass(frozen=True)
class RuleSpec:
    """A cart rule of a segment file; ``fields`` are the Magento fields segbridge owns."""

    index: int
    name: str
    coupon_code: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class SegmentMap:
    """What the planner needs from one segment file."""

    code: str
    active: bool
    priority: int
    website_id: int | None  # None: every website
    group_code: str | None
    description: str = ""
    blocks: tuple[BlockSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    # [[catalog_rules]] (coupon_code always ""): through the storefront module
    catalog_rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True)
class CustomerRow:
    id: int
    website_id: int
    group_id: int


@dataclass(frozen=True)
class HomeRow:
    home_group_id: int
    written_group_id: int | None
    overridden_target_id: int | None


@dataclass(frozen=True)
class ObjectRow:
    kind: str  # cms_block | cart_rule | catalog_rule
    key: str
    segment_code: str
    magento_id: int
    active: bool
    fingerprint: str | None
    store_id: int | None = None
    store_code: str | None = None
    identifier: str | None = None


@dataclass
class PlanInputs:
    customers: Iterable[CustomerRow]
    homes: Mapping[int, HomeRow]
    memberships: Mapping[int, Iterable[str]]  # customer id -> segment codes
    segments: list[SegmentMap]
    groups: Mapping[str, tuple[int, str]]  # code.casefold() -> (id, code) as Magento has them
    objects: list[ObjectRow]
    store_codes: Mapping[int, str]  # store view id -> code (0 -> "all")
    website_ids: list[int]  # every website except admin (0)
    movable_groups: tuple[str, ...]
    adopt_drift: bool = False
    # resync/run --adopt: customers inside managed groups are segbridge's own this time
    adopt_customers: bool = False


# --- outputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupCreate:
    code: str


@dataclass(frozen=True)
class CustomerChange:
    customer_id: int
    from_group_id: int
    to_group_code: str
    to_group_id: int | None  # None: created by this push
    segment: str | None  # None: back to the home group


@dataclass(frozen=True)
class Drift:
    customer_id: int
    group_id: int
    target_code: str | None


@dataclass(frozen=True)
class HomeUpdate:
    customer_id: int
    home_group_id: int
    new: bool


@dataclass(frozen=True)
class HomeMark:
    """New values for what segbridge remembers of its own writes for one customer:
    the group it last wrote (``None``: none that still stands) and a target not to plan
    again until the target changes (the store overrode it, or a person undid it)."""

    customer_id: int
    written_group_id: int | None
    overridden_target_id: int | None


@dataclass(frozen=True)
class ObjectWrite:
    """Create, update or deactivate one CMS block, cart rule or catalog rule; or (kind
    ``catalog_rules_apply``, action ``apply``) ask Magento to apply the catalog rules once
    after the catalog rule steps of the same plan."""

    kind: str  # cms_block | cart_rule | catalog_rule | catalog_rules_apply
    action: str  # create | update | deactivate | apply
    key: str
    segment_code: str
    group_code: str | None
    magento_id: int | None
    desired: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    group_creates: list[GroupCreate] = field(default_factory=list)
    changes: list[CustomerChange] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    home_updates: list[HomeUpdate] = field(default_factory=list)
    home_marks: list[HomeMark] = field(default_factory=list)
    objects: list[ObjectWrite] = field(default_factory=list)
    # customers not planned: the store overrode this target, or a person moved them out
    # of it, before (until their target changes)
    overridden_kept: int = 0
    adopted_customers: int = 0  # customers inside managed groups taken as ours (--adopt)
    # found in Magento with no record in the store (docs/push.md adoption): recorded by push
    adopted: list[ObjectRow] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # objects left alone, one line each
    # rule changes push will refuse (a coupon code another rule holds), one line each
    conflicts: list[str] = field(default_factory=list)
    not_movable: int = 0  # customers a segment wants to move whose home group is not movable
    problems: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Writes this plan asks for (what ``push.max_changes`` limits)."""
        return len(self.group_creates) + len(self.changes) + len(self.objects)


def fingerprint(value: Mapping[str, Any]) -> str:
    """A stable hash of the fields segbridge last wrote (so unchanged means no write)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def block_key(segment: str, slot: str, store_id: int, group_code: str) -> str:
    return f"{segment}:{slot}:{store_id}:{group_code.casefold()}"


def rule_marker(segment: str, index: int) -> str:
    return f"segbridge:{segment}:{index}"


def catalog_marker(segment: str, index: int) -> str:
    """A catalog rule's marker: its own namespace, so it never reads as a cart rule's."""
    return f"segbridge:{segment}:catalog:{index}"


# The kinds of rule a segment file manages: created even when their segment is inactive
# (switched off, not missing), deactivated, never deleted, when the file drops them.
RULE_KINDS = ("cart_rule", "catalog_rule")
# The journal step that asks Magento to apply the catalog rules (the catalogrule_rule
# indexer). Its kind sorts after "catalog_rule" and before "cms_block", so plan_steps
# (ordered by action != "deactivate", kind, key) puts it after every catalog rule step.
CATALOG_APPLY = "catalog_rules_apply"


def catalog_fields(spec: Any) -> dict[str, Any]:
    """The catalog rule fields a segment file's ``[[catalog_rules]]`` entry sets, as the
    module's routes carry them (``bridge.magento.module.CatalogRule``)."""
    return {
        "simple_action": spec.simple_action,
        "discount_amount": float(spec.discount_amount),
        "skus": list(spec.skus),
        "stop_rules_processing": bool(spec.stop_rules_processing),
        "sort_order": int(spec.sort_order or 0),
        "from_date": spec.from_date.isoformat() if spec.from_date is not None else None,
        "to_date": spec.to_date.isoformat() if spec.to_date is not None else None,
    }


def block_identifier(slot: str, group_id: int | str) -> str:
    return f"{slot}--group-{group_id}"


def block_desired(
    spec: BlockSpec, group_id: int | None, group_code: str
) -> dict[str, Any]:
    ident = block_identifier(spec.slot, group_id if group_id is not None else f"<{group_code}>")
    return {
        "identifier": ident,
        "title": spec.title,
        "content": spec.content,
        "active": bool(spec.active),
    }


def _managed_fields(
    seg: SegmentMap, spec: RuleSpec, marker: str, group_id: int | None, website_ids: list[int]
) -> dict[str, Any]:
    """The fields segbridge owns in a cart or catalog rule: the file's fields, the marker at
    the start of the description, the segment's group alone, its website (else every one)."""
    out: dict[str, Any] = dict(spec.fields)
    out.update(
        {
            "name": spec.name,
            "description": f"{marker} {seg.description}".strip(),
            "is_active": bool(seg.active),
            "website_ids": [seg.website_id] if seg.website_id is not None else sorted(website_ids),
            "customer_group_ids": [group_id] if group_id is not None else [],
        }
    )
    return out


def rule_desired(
    seg: SegmentMap, spec: RuleSpec, group_id: int | None, website_ids: list[int]
) -> dict[str, Any]:
    """The rule fields segbridge owns (the rest of a rule is kept as read)."""
    out = _managed_fields(seg, spec, rule_marker(seg.code, spec.index), group_id, website_ids)
    out["coupon_type"] = "SPECIFIC_COUPON" if spec.coupon_code else "NO_COUPON"
    return out


def catalog_desired(
    seg: SegmentMap, spec: RuleSpec, group_id: int | None, website_ids: list[int]
) -> dict[str, Any]:
    """Every field of a catalog rule segbridge manages."""
    return _managed_fields(
        seg, spec, catalog_marker(seg.code, spec.index), group_id, website_ids)


def _winner(
    codes: Iterable[str], by_code: Mapping[str, SegmentMap], website: int
) -> SegmentMap | None:
    """The highest-priority active segment with a group the customer belongs to."""
    best: SegmentMap | None = None
    for code in codes:
        seg = by_code.get(code)
        if seg is None or not seg.active or not seg.group_code:
            continue
        if seg.website_id is not None and seg.website_id != website:
            continue
        if best is None or (seg.priority, _neg(seg.code)) > (best.priority, _neg(best.code)):
            best = seg
    return best


def _neg(code: str) -> tuple[int, ...]:
    """Ties (only possible across websites) go to the alphabetically first code."""
    return tuple(-ord(c) for c in code)


def make_plan(inp: PlanInputs) -> Plan:
    """Every write a push would make now, plus drift and home-group bookkeeping."""
    plan = Plan()
    groups = inp.groups
    by_code = {s.code: s for s in inp.segments}
    live_segments = [s for s in inp.segments if s.active and s.group_code]

    # Managed groups named by active segment files; create the missing ones.
    named: dict[str, str] = {}
    for seg in live_segments:
        assert seg.group_code is not None
        named.setdefault(seg.group_code.casefold(), seg.group_code)
    for folded, code in sorted(named.items()):
        if len(code) > MAX_GROUP_CODE:
            plan.problems.append(f"group code {code!r} is longer than {MAX_GROUP_CODE} characters")
            continue
        if folded not in groups:
            plan.group_creates.append(GroupCreate(code))
    code_of = {gid: code for gid, code in groups.values()}
    managed: set[int] = {groups[f][0] for f in named if f in groups}
    movable = {g.casefold() for g in inp.movable_groups}
    first_movable = groups.get(inp.movable_groups[0].casefold()) if inp.movable_groups else None

    customers = list(inp.customers)
    # ...and any group that still holds customers segbridge put there.
    for c in customers:
        h = inp.homes.get(c.id)
        if h and h.written_group_id is not None and c.group_id == h.written_group_id:
            if h.written_group_id != h.home_group_id:
                managed.add(h.written_group_id)
    managed.discard(NOT_LOGGED_IN)

    for c in customers:
        h = inp.homes.get(c.id)
        cur = c.group_id
        drift = False
        mark = False  # written/overridden change: a HomeMark for this customer
        if h is None:
            written = None
            overridden = None
            if cur in managed:
                if first_movable is None:
                    plan.problems.append(
                        f"customer {c.id}: first seen in managed group {code_of.get(cur, cur)!r} "
                        f"and the first of push.movable_groups does not exist"
                    )
                    continue
                home = first_movable[0]
                if inp.adopt_customers:  # --adopt: segbridge's own from now on
                    written, mark = cur, True
                    plan.adopted_customers += 1
                else:
                    drift = True
            else:
                home = cur
            plan.home_updates.append(HomeUpdate(c.id, home, True))
        else:
            home, written, overridden = h.home_group_id, h.written_group_id, h.overridden_target_id
            if cur == written:
                pass  # where segbridge put them
            elif cur not in managed:
                if cur != home:  # moved by hand to another non-managed group: their new home
                    home = cur
                    plan.home_updates.append(HomeUpdate(c.id, home, False))
                if written is not None and written != h.home_group_id:
                    # A person moved them out of the group segbridge put them in: not
                    # moved back while that group stays their target (docs/push.md).
                    written, overridden, mark = None, h.written_group_id, True
            elif inp.adopt_customers and first_movable is not None:
                # --adopt: a customer found inside a managed group is segbridge's own
                written, overridden, mark = cur, None, True
                plan.adopted_customers += 1
                if home != first_movable[0]:
                    home = first_movable[0]
                    plan.home_updates.append(HomeUpdate(c.id, home, False))
            else:
                drift = True  # moved by hand into a managed group

        winner = _winner(inp.memberships.get(c.id, ()), by_code, c.website_id)
        if winner is not None:
            assert winner.group_code is not None
            found = groups.get(winner.group_code.casefold())
            target_id: int | None = found[0] if found else None
            target_code = found[1] if found else winner.group_code
        else:
            target_id, target_code = home, code_of.get(home, str(home))

        if overridden is not None and target_id != overridden and not drift:
            overridden, mark = None, True  # the target changed: planned as anyone else
        if mark:
            plan.home_marks.append(HomeMark(c.id, written, overridden))
        if len(target_code) > MAX_GROUP_CODE:
            continue  # a problem of the segment file (see above)

        if drift and not inp.adopt_drift:
            if target_id != cur:
                plan.drift.append(Drift(c.id, cur, target_code))
            continue
        if target_id == cur:
            continue
        home_movable = code_of.get(home, "").casefold() in movable
        if not home_movable:
            # Never moved; but one segbridge itself put in a managed group (before
            # movable_groups changed) goes back home rather than staying there.
            if not (written is not None and cur == written and cur in managed and cur != home):
                if winner is not None:
                    plan.not_movable += 1
                continue
            target_id, target_code, winner = home, code_of.get(home, str(home)), None
            if target_id == cur:
                continue
        if target_id in (NOT_LOGGED_IN, ALL_GROUPS):
            continue
        if overridden is not None and target_id == overridden:
            plan.overridden_kept += 1
            continue
        plan.changes.append(
            CustomerChange(c.id, cur, target_code, target_id, winner.code if winner else None)
        )

    _plan_objects(inp, plan, live_segments, groups)
    return plan


@dataclass(frozen=True)
class Wanted:
    """One CMS block, cart rule or catalog rule an active segment file asks for, as Magento
    should hold it.

    ``owned`` is what the fingerprint covers (the fields segbridge writes); ``desired``
    is what a journal step carries.
    """

    kind: str  # cms_block | cart_rule | catalog_rule
    key: str
    segment_code: str
    group_code: str
    group_id: int | None  # None: the group is created by this push
    active: bool
    owned: Mapping[str, Any]
    desired: Mapping[str, Any]
    store_id: int | None = None
    store_code: str | None = None


def wanted_objects(
    segments: Iterable[SegmentMap],
    groups: Mapping[str, tuple[int, str]],
    store_codes: Mapping[int, str],
    website_ids: list[int],
    problems: list[str] | None = None,
) -> list[Wanted]:
    """Every block and rule the active segment files ask for (unknown stores go to
    ``problems``). One list for the planner and for adoption, so both agree on keys."""
    out: list[Wanted] = []
    live = [s for s in segments if s.active and s.group_code]
    for seg in sorted(live, key=lambda s: s.code):
        assert seg.group_code is not None
        found = groups.get(seg.group_code.casefold())
        gid = found[0] if found else None
        gcode = found[1] if found else seg.group_code
        for spec in seg.blocks:
            # Store 0 is every store view: Magento refuses the same identifier in store 0
            # and in another store (docs/magento.md E1), so 0 alone stands for them all.
            stores = (0,) if 0 in spec.stores else tuple(dict.fromkeys(spec.stores))
            for store_id in stores:
                key = block_key(seg.code, spec.slot, store_id, gcode)
                store_code = store_codes.get(store_id)
                if store_code is None:
                    if problems is not None:
                        problems.append(
                            f"segment {seg.code}: cms block {spec.slot!r}: "
                            f"store {store_id} is unknown"
                        )
                    continue
                owned = block_desired(spec, gid, gcode)
                full = {**owned, "slot": spec.slot, "store_id": store_id,
                        "store_code": store_code}
                out.append(Wanted("cms_block", key, seg.code, gcode, gid, bool(spec.active),
                                  owned, full, store_id, store_code))
        for rspec in seg.rules:
            rule = rule_desired(seg, rspec, gid, website_ids)
            full = {"rule": rule, "coupon_code": rspec.coupon_code}
            out.append(Wanted("cart_rule", rule_marker(seg.code, rspec.index), seg.code, gcode,
                              gid, bool(seg.active), full, full))
        for cspec in seg.catalog_rules:
            crule = {"rule": catalog_desired(seg, cspec, gid, website_ids)}
            out.append(Wanted("catalog_rule", catalog_marker(seg.code, cspec.index), seg.code,
                              gcode, gid, bool(seg.active), crule, crule))
    return out


def _plan_objects(
    inp: PlanInputs,
    plan: Plan,
    live_segments: list[SegmentMap],
    groups: Mapping[str, tuple[int, str]],
) -> None:
    existing = {(o.kind, o.key): o for o in inp.objects}
    wanted: set[tuple[str, str]] = set()
    for w in wanted_objects(live_segments, groups, inp.store_codes, inp.website_ids,
                            plan.problems):
        wanted.add((w.kind, w.key))
        obj = existing.get((w.kind, w.key))
        if obj is None:
            if w.kind in RULE_KINDS or w.active:
                plan.objects.append(
                    ObjectWrite(w.kind, "create", w.key, w.segment_code, w.group_code, None,
                                w.desired)
                )
        elif w.group_id is None or obj.fingerprint != fingerprint(w.owned) or not obj.active:
            if w.kind in RULE_KINDS or obj.active or w.active:
                plan.objects.append(
                    ObjectWrite(w.kind, "update", w.key, w.segment_code, w.group_code,
                                obj.magento_id, w.desired)
                )
    for (kind, key), obj in sorted(existing.items()):
        if (kind, key) not in wanted and obj.active:
            desired = {"store_id": obj.store_id, "store_code": obj.store_code,
                       "identifier": obj.identifier}
            plan.objects.append(
                ObjectWrite(kind, "deactivate", key, obj.segment_code, None, obj.magento_id,
                            desired)
            )
    if any(o.kind == "catalog_rule" for o in plan.objects):
        # once, after every catalog rule step (docs/push.md): Magento's rule prices are
        # rebuilt by its catalogrule_rule indexer, not by saving a rule
        plan.objects.append(ObjectWrite(CATALOG_APPLY, "apply", "catalog_rules", "", None, None))
