"""``segbridge sync [--full] [--entity E]... [--since WHEN]``."""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bridge.errors import SegbridgeError


def _lock(engine: Engine, wait: bool) -> AbstractContextManager[Any]:
    try:
        from bridge.lock import run_lock
    except ImportError:  # pragma: no cover - the lock module ships with segbridge
        return nullcontext()
    return run_lock(engine, wait=wait, holder="segbridge sync")


def cmd_sync(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.identity import verify_configured_shop
    from bridge.store.engine import open_store
    from bridge.sync.runner import run_sync
    from bridge.sync.writer import WriterFailed

    cfg = ctx.config()
    try:
        engine = open_store(cfg.store.url)
    except SQLAlchemyError as exc:
        raise SegbridgeError(f"store {cfg.store.url.split('@')[-1]}: cannot open: {exc}") from exc
    show_progress = not ctx.quiet and sys.stderr.isatty()
    try:
        with _lock(engine, ctx.wait) as handle:
            lost = getattr(handle, "lost", None)
            verify_configured_shop(engine, cfg)  # another shop: exit 2 before any write
            result = run_sync(
                cfg,
                engine,
                full=bool(args.full),
                entities=list(args.entity) if args.entity else None,
                since=args.since,
                progress=show_progress,
                should_stop=lost.is_set if lost is not None else None,
            )
    except (WriterFailed, SQLAlchemyError) as exc:
        raise SegbridgeError(f"sync failed: the store refused a write: {exc}") from exc
    finally:
        engine.dispose()
    if ctx.json:
        ctx.emit_json(result.to_json())
    else:
        _print(ctx, result)
    return result.exit_code


def _print(ctx: Any, result: Any) -> None:
    from rich.table import Table

    console = ctx.console()
    table = Table(title=f"sync run {result.run_id}: {result.status}", title_justify="left")
    for col in ("entity", "mode", "window from", "in Magento", "stored", "quarantined",
                "deleted", "requests", "watermark"):
        table.add_column(col, justify="right" if col not in ("entity", "mode") else "left")
    for name, c in result.counts.items():
        table.add_row(
            name, c.mode, c.window_from or "-", "-" if c.total is None else str(c.total),
            str(c.stored), str(c.quarantined), str(c.deleted),
            str(c.list_requests + c.other_requests), c.watermark or "-",
        )
    console.print(table)
    console.print(f"requests {result.requests}, retries {result.retries}")
    err = ctx.error_console()
    for message in result.errors:
        err.print(f"segbridge sync: {message}", markup=False, highlight=False)
    if result.quarantined:
        err.print(f"{result.quarantined} record(s) quarantined: see `segbridge status`")
