"""The segment commands: evaluate, segments, members, explain, history (docs/commands.md)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func, insert, select, update

from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, ConfigError, SegbridgeError
from bridge.output import cell, csv_cell, safe
from bridge.privacy.optout import objection_line
from bridge.runs import new_run_values
from bridge.segments.model import Segment
from bridge.store import models as m
from bridge.timeutil import utcnow


def _open(config: Any) -> Engine:
    from bridge.store.engine import open_store

    return open_store(config.store.url)


def _open_readonly(config: Any) -> Engine:
    """The store for a command that only reads it: never created, migrated or written."""
    from bridge.store.engine import open_store_readonly

    return open_store_readonly(config.store.url)


def _load(ctx: Any, config: Any) -> list[Segment]:
    from bridge.segments.loader import load_segments_with_warnings

    segments, warnings = load_segments_with_warnings(config.mappings.dir, config)
    if warnings and not ctx.quiet:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    return segments


def _start_run(engine: Engine, kind: str) -> int:
    with engine.begin() as conn:
        res = conn.execute(
            insert(m.Run.__table__).values(**new_run_values(kind))
        )
        return int(res.inserted_primary_key[0])


def _finish_run(
    engine: Engine, run_id: int, status: str, counts: Any = None, message: str | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(m.Run.__table__)
            .where(m.Run.id == run_id)
            .values(
                ended_at=utcnow(),
                status=status,
                counts=counts,
                message=message,
                errors=0 if status == "ok" else 1,
            )
        )


# --- evaluate ---------------------------------------------------------------------------


def cmd_evaluate(ctx: Any, args: argparse.Namespace) -> int:
    """Compute memberships as of --as-of (default now); record joins and leaves."""
    from bridge.segments.evaluate import _wanted, evaluate

    config = ctx.config()
    segments = _load(ctx, config)
    only = list(args.segments or [])
    _wanted(segments, only)  # unknown or inactive names: exit 2 before anything runs
    as_of: datetime = args.as_of or utcnow()
    engine = _open(config)
    try:
        from bridge.lock import run_lock

        with run_lock(engine, wait=ctx.wait, holder="segbridge evaluate"):
            run_id = _start_run(engine, "evaluate")
            try:
                results = evaluate(
                    engine, segments, as_of, run_id=run_id, config=config, only=only or None
                )
            except BaseException as exc:
                _finish_run(engine, run_id, "failed", message=str(exc)[:2000])
                raise
            # a segment reading a field the store does not hold yet was refused (its line
            # is logged): done in part (docs/privacy.md)
            refused = [s.code for s in _wanted(segments, only) if s.code not in results]
            _finish_run(engine, run_id, "partial" if refused else "ok",
                        counts={c: r.as_dict() for c, r in results.items()})
            objected = objection_line(engine, config)
    finally:
        engine.dispose()
    done = EXIT_PARTIAL if refused else EXIT_OK
    if ctx.json:
        ctx.emit_json({c: r.as_dict() for c, r in results.items()})
        return done
    console = ctx.console()
    from rich.table import Table

    table = Table(title=f"Evaluated as of {as_of:%Y-%m-%d %H:%M:%S} UTC (run {run_id})")
    for col in ("segment", "members", "joined", "left"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    for code, r in results.items():
        table.add_row(cell(code), str(r.members), f"+{r.joined}", f"-{r.left}")
    console.print(table)
    if objected:
        console.print(objected, markup=False, highlight=False)
    return done


# --- segments -------------------------------------------------------------------------------


def cmd_segments(ctx: Any, args: argparse.Namespace) -> int:
    """Every segment file and every segment the store remembers, with member counts."""
    from bridge.store.segment_tables import SegmentMember, SegmentRecord

    config = ctx.config()
    segments = _load(ctx, config)
    engine = _open_readonly(config)
    try:
        with engine.connect() as conn:
            known = {r.code: r for r in conn.execute(select(SegmentRecord.__table__))}
            counts = dict(
                conn.execute(
                    select(SegmentMember.segment_code, func.count()).group_by(
                        SegmentMember.segment_code
                    )
                ).all()
            )
        objected = objection_line(engine, config)
    finally:
        engine.dispose()
    rows = []
    for seg in segments:
        rec = known.get(seg.code)
        rows.append(
            {
                "code": seg.code,
                "name": seg.name,
                "active": seg.active,
                "website": seg.website,
                "priority": seg.priority,
                "group": seg.group.code if seg.group else None,
                "holdout": float(seg.holdout),
                "members": int(counts.get(seg.code, 0)),
                "last_change": rec.last_changed_at if rec else None,
                "last_evaluated": rec.last_as_of if rec else None,
                "file": str(seg.source.name),
            }
        )
    files = {s.code for s in segments}
    for code, rec in sorted(known.items()):
        if code not in files:
            rows.append(
                {
                    "code": code,
                    "name": rec.name,
                    "active": False,
                    "website": rec.website,
                    "priority": rec.priority,
                    "group": rec.group_code,
                    "holdout": float(rec.holdout or 0),
                    "members": int(counts.get(code, 0)),
                    "last_change": rec.last_changed_at,
                    "last_evaluated": rec.last_as_of,
                    "file": None,
                }
            )
    if ctx.json:
        ctx.emit_json(rows)
        return EXIT_OK
    from rich.table import Table

    table = Table()
    for col in ("code", "name", "active", "group", "priority", "holdout", "members",
                "last change"):
        table.add_column(
            col, justify="right" if col in ("members", "priority", "holdout") else "left"
        )
    for r in rows:
        table.add_row(
            cell(r["code"]),
            cell(r["name"], ""),
            "yes" if r["active"] else ("no file" if r["file"] is None else "no"),
            cell(r["group"], ""),
            cell(r["priority"]),
            f"{r['holdout'] * 100:g} %" if r["holdout"] else "",
            str(r["members"]),
            _fmt(r["last_change"]) or "never",
        )
    ctx.console().print(table)
    if objected:
        ctx.console().print(objected, markup=False, highlight=False)
    return EXIT_OK


def _fmt(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _known_code(engine: Engine, segments: list[Segment], code: str) -> None:
    from bridge.store.segment_tables import SegmentRecord

    if any(s.code == code for s in segments):
        return
    with engine.connect() as conn:
        if conn.execute(select(SegmentRecord.code).where(SegmentRecord.code == code)).first():
            return
    raise ConfigError([f"{code}: no segment has this code"])


# --- members --------------------------------------------------------------------------------


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        fh = tmp.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise SegbridgeError(f"{path}: cannot write the export: {exc.strerror or exc}") from None
    try:
        with fh:
            yield fh
        tmp.replace(path)  # whole file or none
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cmd_members(ctx: Any, args: argparse.Namespace) -> int:
    """Export a segment's current members: table (default), csv or json."""
    from bridge.store.segment_tables import SegmentMember

    config = ctx.config()
    segments = _load(ctx, config)
    fmt = args.format or ("json" if ctx.json else ("csv" if args.output else "table"))
    engine = _open_readonly(config)
    try:
        _known_code(engine, segments, args.segment)
        sm = SegmentMember.__table__
        c = m.Customer.__table__
        w = m.Website.__table__
        q = (
            select(sm.c.customer_id, c.c.email, w.c.code, c.c.website_id, sm.c.joined_at,
                   sm.c.holdout)
            .select_from(
                sm.outerjoin(c, c.c.id == sm.c.customer_id).outerjoin(w, w.c.id == c.c.website_id)
            )
            .where(sm.c.segment_code == args.segment)
            .order_by(sm.c.customer_id)
        )
        with engine.connect() as conn, _output(args.output) as out:
            rows = conn.execution_options(yield_per=5000).execute(q)

            def records() -> Iterator[dict[str, Any]]:
                for r in rows:
                    yield {
                        "customer_id": r[0],
                        "email": r[1],
                        "website": r[2]
                        if r[2] is not None
                        else (str(r[3]) if r[3] is not None else None),
                        "joined_at": _fmt(r[4]),
                        "holdout": bool(r[5]),
                    }

            n = _write_members(fmt, records(), out, ctx)
    finally:
        engine.dispose()
    if args.output and not ctx.quiet:
        print(f"{n} members of {args.segment} written to {args.output}", file=sys.stderr)
    return EXIT_OK


MEMBER_COLUMNS = ("customer_id", "email", "website", "joined_at", "holdout")


def _write_members(fmt: str, records: Iterator[dict[str, Any]], out: IO[str], ctx: Any) -> int:
    n = 0
    shown = out.isatty()
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=MEMBER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            # on a terminal it is read, not imported: control characters shown escaped
            writer.writerow({k: csv_cell(safe(v) if shown and isinstance(v, str) else v)
                             if k != "holdout" else ("true" if v else "false")
                             for k, v in rec.items()})
            n += 1
        return n
    if fmt == "json":
        out.write("[")
        for rec in records:
            out.write(("\n  " if n == 0 else ",\n  ") + json.dumps(rec, ensure_ascii=False))
            n += 1
        out.write("\n]\n" if n else "]\n")
        return n
    widths = (12, 40, 12, 19, 8)
    header = "  ".join(h.ljust(wd) for h, wd in zip(MEMBER_COLUMNS, widths, strict=True))
    out.write(header.rstrip() + "\n")
    for rec in records:
        # held out: a member the push treats as not in the segment (docs/lift.md)
        cells = [safe(rec[k]) if rec[k] is not None else "" for k in MEMBER_COLUMNS[:-1]]
        cells.append("held out" if rec["holdout"] else "")
        out.write(
            "  ".join(v.ljust(wd) for v, wd in zip(cells, widths, strict=True)).rstrip() + "\n"
        )
        n += 1
    return n


# --- history --------------------------------------------------------------------------------


def cmd_history(ctx: Any, args: argparse.Namespace) -> int:
    """Joins and leaves of a segment, oldest first (``--since WHEN`` to start later)."""
    from bridge.store.segment_tables import SegmentHistory

    config = ctx.config()
    segments = _load(ctx, config)
    engine = _open_readonly(config)
    try:
        _known_code(engine, segments, args.segment)
        h = SegmentHistory.__table__
        q = (
            select(h.c.at, h.c.event, h.c.customer_id, h.c.run_id, h.c.holdout)
            .where(h.c.segment_code == args.segment)
            .order_by(h.c.at, h.c.id)
        )
        if args.since is not None:
            q = q.where(h.c.at >= args.since)
        with engine.connect() as conn:
            rows = [
                {
                    "at": _fmt(r[0]),
                    "event": r[1],
                    "customer_id": r[2],  # ids only: e-mails are for members (docs/privacy.md)
                    "run_id": r[3],
                    "holdout": bool(r[4]),
                }
                for r in conn.execute(q)
            ]
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(rows)
        return EXIT_OK
    out = sys.stdout
    out.write(
        "at                   event   customer_id  run     holdout\n"
    )
    for r in rows:
        out.write(
            f"{r['at']:<20} {safe(r['event']):<7} {r['customer_id']:>11}  "
            f"{r['run_id'] if r['run_id'] is not None else '':<8}"
            f"{'held out' if r['holdout'] else ''}".rstrip()
            + "\n"
        )
    if not rows:
        out.write("(no joins or leaves)\n")
    return EXIT_OK


# --- explain --------------------------------------------------------------------------------


def cmd_explain(ctx: Any, args: argparse.Namespace) -> int:
    """The condition tree with the customer's values, ✓/✗ on every node, the deciding leaf."""
    from bridge.lift.holdout import is_held_out
    from bridge.segments.explain import (
        decision_path,
        explain_customer,
        find_customers,
        render_lines,
        trace_json,
    )
    from bridge.store.segment_tables import SegmentMember

    config = ctx.config()
    segments = _load(ctx, config)
    by_code = {s.code: s for s in segments}
    seg = by_code.get(args.segment)
    if seg is None:
        raise ConfigError([f"{args.segment}: no segment file has this code"])
    as_of: datetime = args.as_of or utcnow()
    engine = _open_readonly(config)
    try:
        with engine.connect() as conn:
            found = find_customers(conn, args.customer)
            if not found:
                raise ConfigError([f"{args.customer}: no such customer in the store"])
            if len(found) > 1:
                websites = {r["id"]: r["website_id"] for r in found}
                lines = [
                    f"{args.customer}: this email belongs to {len(found)} customers "
                    "(one per website); give the customer id:"
                ] + [f"  customer {cid} (website id {wid})" for cid, wid in websites.items()]
                if ctx.json:
                    ctx.emit_json(
                        {
                            "error": "ambiguous email",
                            "customers": [
                                {"customer_id": cid, "website_id": wid}
                                for cid, wid in websites.items()
                            ],
                        }
                    )
                else:
                    print("\n".join(lines), file=sys.stderr)
                return EXIT_BAD_INPUT
            cust = found[0]
            data, trace = explain_customer(conn, seg, by_code, cust["id"], as_of, config)
            stored = conn.execute(
                select(SegmentMember.joined_at, SegmentMember.holdout).where(
                    SegmentMember.segment_code == seg.code, SegmentMember.customer_id == cust["id"]
                )
            ).first()
    finally:
        engine.dispose()
    path = decision_path(trace)
    decided = {id(t) for t in path}
    leaf = path[-1]
    website = data.websites.get(data.customer["website_id"], str(data.customer["website_id"]))
    # held out as of --as-of by the segment file's share (bridge.lift.holdout)
    held = bool(trace.result and seg.holdout and is_held_out(seg.code, cust["id"], seg.holdout))
    if ctx.json:
        ctx.emit_json(
            {
                "segment": seg.code,
                "customer_id": cust["id"],
                "email": cust["email"],
                "website": website,
                "as_of": _fmt(as_of),
                "member": trace.result,
                "stored_member_since": _fmt(stored[0]) if stored else None,
                "holdout": held,
                "stored_holdout": bool(stored[1]) if stored else None,
                "decided_by": {
                    "condition": leaf.label,
                    "actual": leaf.actual,
                    "holds": leaf.result,
                },
                "tree": trace_json(trace, decided),
            }
        )
        return EXIT_OK
    out = sys.stdout
    scope = f"website {safe(seg.website)}" if seg.website else "every website"
    out.write(f"Segment {safe(seg.code)} — {safe(seg.name)} ({scope}), as of {_fmt(as_of)} UTC\n")
    out.write(
        f"Customer {cust['id']} <{safe(cust['email'])}> (website {safe(website)})"
        + (" — deleted in Magento" if cust.get("deleted") else "")
        + "\n\n"
    )
    for line in render_lines(trace, decided):
        out.write(line + "\n")
    verdict = "IS a member" if trace.result else "is NOT a member"
    out.write(f"\n⇒ customer {cust['id']} {verdict} of {safe(seg.code)}.\n")
    if held:
        out.write(f"Held out (holdout {seg.holdout:g}): a member, but the push treats them as "
                  f"not in {safe(seg.code)} (docs/lift.md).\n")
    if leaf is not trace or trace.node is None:
        out.write(
            f"Decided by: {safe(leaf.label)} (actual: {safe(leaf.actual)}) "
            f"{'holds' if leaf.result else 'does not hold'}\n"
        )
    else:
        out.write("Decided by: all of the conditions together (none settled it alone)\n")
    if stored:
        side = ", held out" if stored[1] else ""
        out.write(f"Stored membership: member since {_fmt(stored[0])}{side} (last evaluation)\n")
    else:
        out.write("Stored membership: not a member at the last evaluation\n")
    return EXIT_OK
