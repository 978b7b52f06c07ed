"""One task of a parallel SQLite evaluation, run in a worker process.

The evaluation on SQLite builds its intermediate tables on two cores at once (see
``bridge.segments.evaluate.ParallelSide``). Two threads of one process do not get two
cores' worth of SQLite: at a million customers two orders-pass halves took 6.2 s on two
threads against 6.4 s one after the other (each thread ran at about 60 % of a core),
and 4.0 s in two processes. So each task runs here, in a worker process, on its own
connection: plain SQL text in, tables in scratch files out.

This module imports only the standard library, so a worker starts quickly.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence


def peak_rss_kib() -> int:
    """This process's peak resident memory (KiB). Linux's VmHWM counts from the exec,
    where ``ru_maxrss`` would also count the parent's pages a spawned worker shared
    before its exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_task(
    db_path: str, files: dict[str, str], statements: Sequence[str], cache_kib: int
) -> tuple[float, float, int]:
    """Run ``statements`` in one transaction on ``db_path`` with ``files`` (alias ->
    scratch file path) attached; returns the seconds it took, the CPU seconds and the
    worker's peak resident memory so far (KiB).

    The scratch files take no journal and no syncs: they live for one evaluation, and
    a failed one is started again from the store.
    """
    started, cpu = time.perf_counter(), time.process_time()
    con = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout=60000")
        con.execute("PRAGMA temp_store=MEMORY")
        con.execute(f"PRAGMA main.cache_size=-{int(cache_kib)}")
        con.execute(f"PRAGMA temp.cache_size=-{int(cache_kib)}")
        for alias, path in files.items():
            con.execute(f"ATTACH DATABASE ? AS {alias}", (path,))
            con.execute(f"PRAGMA {alias}.journal_mode=OFF")
            con.execute(f"PRAGMA {alias}.synchronous=OFF")
            con.execute(f"PRAGMA {alias}.cache_size=-{int(cache_kib)}")
        con.execute("BEGIN")
        try:
            for sql in statements:
                con.execute(sql)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return time.perf_counter() - started, time.process_time() - cpu, peak_rss_kib()
