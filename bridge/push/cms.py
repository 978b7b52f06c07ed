"""CMS blocks ``<slot>--group-<id>``: upserted in an explicit store scope (docs/magento.md E1, E2).

Only blocks segbridge created (recorded in ``push_objects``) are ever updated. A create
that meets an existing block with the same identifier adopts it only when it is the
very block segbridge sent (same title and content: a lost answer); anything else is a
person's block and is reported, not overwritten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge.magento.errors import ContractError, InvalidRequestError, NotFoundError
from bridge.push.context import PushContext, StepView
from bridge.push.plan import block_identifier, fingerprint
from bridge.store.push_tables import DONE, REFUSED, PushObject

OWNED = ("identifier", "title", "content", "active")


def _active(value: Any) -> bool:
    return value not in (False, 0, "0", "false", None)


def same_block(current: dict[str, Any], want: dict[str, Any]) -> bool:
    return (
        current.get("identifier") == want["identifier"]
        and (current.get("title") or "") == want["title"]
        and (current.get("content") or "") == want["content"]
        and _active(current.get("active")) == want["active"]
    )


def apply_block(ctx: PushContext, step: StepView) -> None:
    p = step.payload
    desired = p["desired"]
    store_code = str(desired["store_code"])
    if p["action"] == "deactivate":
        _deactivate(ctx, step, int(p["magento_id"]), store_code)
        return
    gid = ctx.step_group(step)
    if gid is None:
        return
    slot = str(desired["slot"])
    want = {
        "identifier": block_identifier(slot, gid),
        "title": desired["title"],
        "content": desired["content"],
        "active": bool(desired["active"]),
    }
    fp = fingerprint(want)
    record = {
        "store_id": desired.get("store_id"),
        "store_code": store_code,
        "identifier": want["identifier"],
    }
    mid = p.get("magento_id")
    if p["action"] == "update" and mid:
        current = ctx.remote.get_block(int(mid), store_code)
        if current is not None:
            if not same_block(current, want):
                ctx.remote.update_block(int(mid), {"id": int(mid), **want}, store_code)
            ctx.mark(step, DONE, magento_id=int(mid), extra=ctx.record_object(
                "cms_block", step.key, step.segment_code or "", int(mid), active=want["active"],
                fingerprint=fp, **record))
            return
        # the block is gone from Magento (deleted by hand): create it afresh

    taken = ctx.recorded_ids("cms_block", exclude_key=step.key)
    dropped: str | None = None  # the old record of a block taken over for this store

    def lookup() -> dict[str, Any] | None:
        for b in ctx.remote.find_blocks(want["identifier"], store_code):
            if int(b.get("id", -1)) in taken:
                continue  # another store's block of the same name, already ours
            same_text = (b.get("title") or "") == want["title"]
            if same_text and (b.get("content") or "") == want["content"]:
                return b
        return None

    try:
        block, created = ctx.create_once(
            step, lookup=lookup, create=lambda: ctx.remote.create_block(want, store_code)
        )
    except (ContractError, InvalidRequestError) as exc:
        found = lookup()
        if found is None:
            found, dropped = _own_switched_off(ctx, step, want["identifier"], store_code)
        if found is None:
            reason = f"CMS_IDENTIFIER_CONFLICT: {want['identifier']} in store {store_code}: {exc}"
            ctx.tally.refused.append({"kind": "cms_block", "key": step.key, "message": reason})
            ctx.mark(step, REFUSED, message=reason,
                     extra=lambda s: ctx.quarantine(s, step, reason))
            return
        block, created = found, False
    bid = int(block["id"])
    if not created:
        ctx.tally.adopted["cms_block"] += 1
        if not same_block(block, want):
            ctx.remote.update_block(bid, {"id": bid, **want}, store_code)
    else:
        ctx.tally.created["cms_block"] += 1
    keep = ctx.record_object("cms_block", step.key, step.segment_code or "", bid,
                             active=want["active"], fingerprint=fp, **record)

    def extra(s: Session) -> None:
        if dropped is not None:  # one transaction: the block is recorded once, always
            s.execute(delete(PushObject).where(PushObject.kind == "cms_block",
                                               PushObject.key == dropped))
        keep(s)

    ctx.mark(step, DONE, magento_id=bid, extra=extra)


def _own_switched_off(
    ctx: PushContext, step: StepView, identifier: str, store_code: str
) -> tuple[dict[str, Any] | None, str | None]:
    """segbridge's own "All Store Views" block of this identifier, switched off because
    the segment file moved it to store views: it holds the identifier in every store
    (docs/magento.md E1), so it is taken over for the new store (the write in that store's
    scope moves it there, E2) and its old record dropped (the key returned), rather
    than a create refused on every push."""
    with Session(ctx.engine) as s:
        row = s.scalars(select(PushObject).where(
            PushObject.kind == "cms_block", PushObject.identifier == identifier,
            PushObject.key != step.key, PushObject.store_id == 0,
            PushObject.active.is_(False),
            PushObject.segment_code == (step.segment_code or ""),
        ).order_by(PushObject.id)).first()
        if row is None:
            return None, None
        bid, old_key = int(row.magento_id), row.key
    block = ctx.remote.get_block(bid, store_code)
    return (block, old_key) if block is not None else (None, None)


def _deactivate(ctx: PushContext, step: StepView, bid: int, store_code: str) -> None:
    """Switch off a block a removed segment used to manage (never delete it)."""
    try:
        current = ctx.remote.get_block(bid, store_code)
    except NotFoundError:
        current = None
    if current is not None and _active(current.get("active")):
        body = {k: current[k] for k in ("identifier", "title", "content") if k in current}
        ctx.remote.update_block(bid, {"id": bid, **body, "active": False}, store_code)
    ctx.mark(step, DONE, magento_id=bid, extra=ctx.record_object(
        "cms_block", step.key, step.segment_code or "", bid, active=False, fingerprint=None))
