"""What every bench prints about the machine it ran on, and what several fetch (a sibling
module of the benches)."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path
from typing import Any


def machine() -> str:
    """OS, CPU model and cores, RAM, Python and SQLite versions, on one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{mem}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def page_bodies(client: Any, entity: str, criteria: Any, page_size: int) -> list[bytes]:
    """The raw JSON body of every page of a search, fetched one after another as the
    sync's workers receive them (``MagentoClient.fetch_page(..., keys_only=True)``)."""
    first = client.fetch_page(entity, criteria, page_size=page_size, keys_only=True)
    pages = -(-(first.total_count or 0) // page_size)
    return [first.items.body or b""] + [
        client.fetch_page(entity, criteria, page=n, page_size=page_size,
                          keys_only=True).items.body or b""
        for n in range(2, pages + 1)]
