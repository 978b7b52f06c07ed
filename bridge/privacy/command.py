"""``segbridge forget`` and ``segbridge subject`` (docs/privacy.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy import Engine, insert, select, update

from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError
from bridge.runs import new_run_values
from bridge.store import models as m
from bridge.timeutil import utcnow


def forget(engine: Engine, who: str, run_id: int | None = None) -> dict[str, Any]:
    """Erase the person ``who`` (an id or an e-mail) from the store now and keep only the
    SHA-256 digests of their ids and e-mails, so that a sync does not bring them back.
    Returns what was done (ids and counts only)."""
    from bridge.privacy.erase import erase_customers, remember_forgotten
    from bridge.privacy.subject import find_person

    with engine.begin() as conn:
        secure_delete(conn)
        ids, email = find_person(conn, who)
        if not ids and email is None and who.strip().isdigit():
            ids_to_remember = [int(who.strip())]
        else:
            ids_to_remember = list(ids)
        c = m.Customer.__table__
        emails = {e for e in conn.execute(select(c.c.email).where(c.c.id.in_(ids))).scalars()}
        if email:
            emails.add(email)
        erased = erase_customers(conn, ids, emails)
        remember_forgotten(conn, ids_to_remember, emails)
        if run_id is not None:
            conn.execute(update(m.Run.__table__).where(m.Run.id == run_id).values(
                ended_at=utcnow(), status="ok",
                counts={"forget": {"customers": ids, "rows": erased.rows}}))
    checkpoint(engine)
    return {"customers": ids, "orders": erased.orders, "carts": erased.carts,
            "rows": erased.rows, "digests": len(ids_to_remember) + len(emails)}


def secure_delete(conn: Any) -> None:
    """SQLite: deleted rows are overwritten with zeros, not left in free pages."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=ON")


def checkpoint(engine: Engine) -> None:
    """SQLite: the write-ahead log, which still holds old pages, is emptied."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _confirm(who: str, found: list[int]) -> bool:
    if not sys.stdin.isatty():
        raise ConfigError([
            "forget: erasing cannot be undone; give --yes to erase without a question"])
    what = (f"customer(s) {', '.join(str(i) for i in found)}" if found
            else "nobody the store holds now (the digests are still recorded)")
    answer = input(f"Erase {what} and everything linked from the store? [y/N] ")
    return answer.strip().casefold() in ("y", "yes")


def cmd_forget(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.lock import run_lock
    from bridge.privacy.subject import find_person
    from bridge.store.engine import open_store

    who = str(args.customer)
    if not who.strip():
        raise ConfigError(["forget: give a customer id or an e-mail address"])
    config = ctx.config()
    engine = open_store(config.store.url)
    try:
        with run_lock(engine, wait=ctx.wait, holder="segbridge forget"):
            if not args.yes:
                with engine.connect() as conn:
                    found, _ = find_person(conn, who)
                if not _confirm(who, found):
                    print("segbridge forget: nothing erased", file=sys.stderr)
                    return EXIT_BAD_INPUT
            with engine.begin() as conn:
                run_id = int(conn.execute(insert(m.Run.__table__).values(
                    **new_run_values("forget"))).inserted_primary_key[0])
            done = forget(engine, who, run_id)
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(done)
        return EXIT_OK
    ids = done["customers"]
    rows = sum(done["rows"].values())
    if ids:
        print(f"Erased customer(s) {', '.join(str(i) for i in ids)}: {rows} row(s) in all, "
              f"{done['orders']} order(s) and {done['carts']} cart(s) among them.")
    else:
        print(f"The store held no customer for that id or e-mail; {rows} row(s) erased.")
    print("Kept: only SHA-256 digests of the id and e-mail, so that a sync does not bring "
          "them back. Magento still has what it has: see docs/privacy.md.")
    return EXIT_OK


def cmd_subject(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.privacy.erase import Forgotten
    from bridge.privacy.subject import subject
    from bridge.store.engine import open_store_readonly

    who = str(args.customer)
    if not who.strip():
        raise ConfigError(["subject: give a customer id or an e-mail address"])
    config = ctx.config()
    engine = open_store_readonly(config.store.url)
    try:
        with engine.connect() as conn:
            held = subject(conn, who)
            gone = Forgotten.load(conn)
    finally:
        engine.dispose()
    text = who.strip()
    forgotten = gone.has_id(text) if text.isdigit() else gone.has_email(text)
    out = held or {"query": who, "customers": [], "guest_orders": [], "quarantine": []}
    out["forgotten"] = forgotten
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
    return EXIT_OK
