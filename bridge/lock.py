"""The run lock: one sync/evaluate/push per store database at a time, across machines.

Two mechanisms behind one context manager, chosen by the store's dialect:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a dedicated
  connection held for the whole run. The server drops it the moment that session ends,
  so a crashed or killed holder never leaves it behind. A row in ``run_lock`` records who
  holds it, for messages and ``segbridge status``.
- SQLite and MariaDB: a lease row in ``run_lock`` taken with an atomic conditional
  INSERT/UPDATE and kept alive by a heartbeat thread that pushes ``expires_at`` forward.
  A crashed holder stops heartbeating, its lease runs out, and the next run takes it
  over. Times come from the database server on MariaDB (so clocks of different machines
  do not matter) and from this machine on SQLite (a local file).

Within one thread the lock is re-entrant, so ``run`` can hold it while calling the same
code that ``sync`` or ``push`` use on their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from bridge.errors import LockHeld
from bridge.shutdown import Terminated
from bridge.store.lock_tables import RunLockRow

log = logging.getLogger(__name__)

LOCK_NAME = "run"
# The lease on SQLite/MariaDB (renewed every third of it); also how long a run of another
# host may go unseen before it counts as gone (bridge.runs.STALE_AFTER).
DEFAULT_LEASE_S = 60.0
_TABLE = RunLockRow.__table__
# An expired lease whose holder is a live process on this host is still respected for
# this long (a holder stuck in a long SQLite write cannot heartbeat, yet is not dead).
_LIVE_HOLDER_GRACE = timedelta(minutes=10)


@dataclass
class LockHandle:
    """What ``run_lock`` yields: who holds it, and whether the lease was lost meanwhile."""

    name: str
    holder: str
    host: str
    pid: int
    mechanism: str  # "advisory" | "lease"
    acquired_at: datetime
    # Set when the heartbeat found another holder in the row: this run should stop
    # at its next safe point (its writes are still journalled, so nothing is lost).
    lost: threading.Event = field(default_factory=threading.Event)


# (database, lock name) -> [owning thread ident, depth, handle]: the re-entrancy table.
_held: dict[tuple[str, str], list[Any]] = {}
_held_guard = threading.Lock()


def _default_holder() -> str:
    """``segbridge <command>`` from argv when run from the CLI, else the program name."""
    try:
        from bridge.cli import COMMANDS
    except Exception:  # pragma: no cover - the CLI always imports
        COMMANDS = {}
    for arg in sys.argv[1:]:
        if arg in COMMANDS:
            return f"segbridge {arg}"
    return os.path.basename(sys.argv[0] or "python")


def _dialect(engine: Engine) -> str:
    return engine.dialect.name  # sqlite | postgresql | mysql | mariadb


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the same on every machine)."""
    digest = hashlib.sha256(f"segbridge:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _db_now(conn: Connection) -> datetime:
    """Naive UTC now by the clock that all holders share (the server's on MariaDB)."""
    if conn.dialect.name in ("mysql", "mariadb"):
        value = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        if isinstance(value, str):  # pragma: no cover - drivers return datetime
            value = datetime.fromisoformat(value)
        return value  # type: ignore[no-any-return]
    return datetime.now(UTC).replace(tzinfo=None)


def describe_holder(info: dict[str, Any] | None) -> str:
    """``'segbridge run' on host web1, pid 4242, since 2026-11-22 07:10:03 UTC``."""
    if not info:
        return "an unknown holder"
    since = info.get("acquired_at")
    since_text = since.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(since, datetime) else "?"
    return (
        f"'{info.get('holder') or 'unknown'}' on host {info.get('host') or '?'}, "
        f"pid {info.get('pid') if info.get('pid') is not None else '?'}, since {since_text}"
    )


def _lock_held_error(info: dict[str, Any] | None) -> LockHeld:
    return LockHeld(
        f"another run holds the store's run lock: {describe_holder(info)}; "
        "it exits 4 — retry later, or pass --wait to wait for it"
    )


def pid_alive(pid: int) -> bool:
    """Does process ``pid`` of this machine still run (another user's counts)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return False
    return True


def _read_row(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(_TABLE).where(_TABLE.c.name == name)).mappings().first()
    return dict(row) if row else None


def _lease_blocks(row: dict[str, Any], now: datetime, token: str | None = None) -> bool:
    """Whether ``row`` keeps others out at ``now``.

    A live lease always does. An expired one does not (its holder crashed or hung),
    except when its holder is a process still alive on this very host and the lease ran
    out only recently: that holder is stuck in a long write, not dead.
    """
    if token is not None and row["token"] == token:
        return False
    local_other = row["host"] == socket.gethostname() and row["pid"] != os.getpid()
    if local_other and not pid_alive(int(row["pid"])):
        return False  # its holder died on this host (e.g. SIGKILL): nothing to wait for
    if row["expires_at"] > now:
        return True
    if row["host"] == socket.gethostname() and row["pid"] != os.getpid():
        return pid_alive(int(row["pid"])) and now - row["expires_at"] < _LIVE_HOLDER_GRACE
    return False


def _public(row: dict[str, Any], mechanism: str) -> dict[str, Any]:
    out = {k: row.get(k) for k in ("holder", "host", "pid", "acquired_at", "heartbeat_at",
                                   "expires_at")}
    out["mechanism"] = mechanism
    return out


def _touch_runs(engine: Engine) -> None:
    """Keep ``last_seen_at`` of this process's running rows fresh (each beat)."""
    from bridge.runs import touch_own_runs

    try:
        touch_own_runs(engine)
    except Exception as exc:  # a busy database: the next beat tries again
        log.debug("run lock: could not mark this process's runs as seen: %s", exc)


def _close_dead_runs(engine: Engine) -> None:
    """Taking the lock: runs left ``running`` by a process that is gone are closed as
    ``interrupted`` (their process cannot be running them: it would hold the lock)."""
    from bridge.runs import close_dead_runs

    try:
        close_dead_runs(engine)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the run
        log.warning("run lock: could not close the runs of dead processes: %s", exc)


def _interrupt_own_runs(engine: Engine, exc: BaseException, taken_at: datetime) -> None:
    """A signal ends this command: its runs become ``interrupted`` now, not at the next
    lock taker (``taken_at``: when this process took the lock, by its own clock)."""
    from bridge.runs import interrupt_own_runs

    at = getattr(exc, "at", None) or taken_at
    reason = str(exc) or "stopped by Ctrl-C"
    try:
        ids = interrupt_own_runs(engine, at, f"{reason} (the next run finishes what it left)")
    except Exception as err:  # noqa: BLE001 - the next lock taker closes them instead
        log.warning("could not record the interrupted run: %s", err)
        return
    if ids:
        log.info("run(s) %s recorded as interrupted: %s", ", ".join(map(str, ids)), exc)


# --- SQLite / MariaDB: the lease ---------------------------------------------------------


class _Holder:
    """What both mechanisms share: who this holder is, its ``run_lock`` row, its watcher."""

    def __init__(self, engine: Engine, name: str, holder: str) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder
        self.token = str(uuid.uuid4())
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.acquired_at: datetime | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _delete_row(self) -> None:
        """Remove this holder's row (and only this holder's: the token must match)."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(_TABLE).where(_TABLE.c.name == self.name, _TABLE.c.token == self.token)
            )


class _Lease(_Holder):
    def __init__(self, engine: Engine, name: str, holder: str, lease_s: float) -> None:
        super().__init__(engine, name, holder)
        self.lease = timedelta(seconds=lease_s)

    def _values(self, now: datetime) -> dict[str, Any]:
        return {
            "token": self.token,
            "holder": self.holder[:255],
            "host": self.host[:255],
            "pid": self.pid,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + self.lease,
        }

    def try_acquire(self) -> dict[str, Any] | None:
        """None when taken; else the current holder's row (for the message)."""
        for _ in range(5):
            with self.engine.connect() as conn:
                now = _db_now(conn)
                row = _read_row(conn, self.name)
                conn.rollback()  # end the read before writing (SQLite: no snapshot upgrade)
            if row is None:
                try:
                    with self.engine.begin() as conn:
                        now = _db_now(conn)
                        conn.execute(insert(_TABLE).values(name=self.name, **self._values(now)))
                except IntegrityError:
                    continue  # someone inserted first: look again
                self.acquired_at = now
                return None
            if _lease_blocks(row, now, self.token):
                return row
            # Expired (or ours): compare-and-set on the token we saw, so two runs that
            # both saw the same expired lease cannot both take it.
            with self.engine.begin() as conn:
                now = _db_now(conn)
                result = conn.execute(
                    update(_TABLE)
                    .where(
                        _TABLE.c.name == self.name,
                        _TABLE.c.token == row["token"],
                        _TABLE.c.expires_at == row["expires_at"],
                    )
                    .values(**self._values(now))
                )
            if result.rowcount == 1:
                if row["token"] != self.token:
                    log.warning(
                        "run lock: took over the expired lease of %s (expired %s UTC)",
                        describe_holder(row),
                        row["expires_at"].strftime("%Y-%m-%d %H:%M:%S"),
                    )
                self.acquired_at = now
                return None
        with self.engine.connect() as conn:
            return _read_row(conn, self.name)

    def start_heartbeat(self) -> None:
        interval = max(self.lease.total_seconds() / 3.0, 0.05)
        self._thread = threading.Thread(
            target=self._beat, args=(interval,), name="segbridge-lock-heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            _touch_runs(self.engine)
            try:
                with self.engine.begin() as conn:
                    now = _db_now(conn)
                    result = conn.execute(
                        update(_TABLE)
                        .where(_TABLE.c.name == self.name, _TABLE.c.token == self.token)
                        .values(heartbeat_at=now, expires_at=now + self.lease)
                    )
            except Exception as exc:  # a busy database: try again next beat
                log.warning("run lock: heartbeat failed (will retry): %s", exc)
                continue
            if result.rowcount != 1:
                log.error(
                    "run lock: the lease was lost (another run took it over after it expired);"
                    " this run stops at its next safe point"
                )
                self.lost.set()
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self._delete_row()
        except Exception as exc:  # the lease then simply expires
            log.warning("run lock: could not release the lease (it expires by itself): %s", exc)


# --- PostgreSQL: the advisory lock ----------------------------------------------------------


class _Advisory(_Holder):
    def __init__(self, engine: Engine, name: str, holder: str) -> None:
        super().__init__(engine, name, holder)
        self.key = _advisory_key(name)
        # Autocommit: the session holds the lock, but no transaction stays open for hours.
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def try_acquire(self) -> dict[str, Any] | None:
        got = self.conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}
        ).scalar_one()
        if not got:
            # The winner writes its holder row just after taking the lock: give it a moment
            # so that the message names it.
            info = lock_holder(self.engine, self.name)
            for _ in range(20):
                if info is None or info.get("acquired_at") is not None:
                    break
                time.sleep(0.05)
                info = lock_holder(self.engine, self.name)
            return info or {"holder": "another session (it just finished)"}
        now = datetime.now(UTC).replace(tzinfo=None)
        self.acquired_at = now
        try:
            with self.engine.begin() as conn:  # who holds it, for messages and status
                conn.execute(delete(_TABLE).where(_TABLE.c.name == self.name))
                conn.execute(
                    insert(_TABLE).values(
                        name=self.name,
                        token=self.token,
                        holder=self.holder[:255],
                        host=self.host[:255],
                        pid=self.pid,
                        acquired_at=now,
                        heartbeat_at=now,
                        expires_at=now,  # not a lease on PostgreSQL: the session is the lock
                    )
                )
        except Exception:
            self._unlock()
            raise
        return None

    def start_heartbeat(self, interval: float) -> None:
        """Watch the session: if the server or network drops it, the lock is gone too."""
        self._thread = threading.Thread(
            target=self._watch, args=(max(interval, 0.05),), name="segbridge-lock-watch",
            daemon=True,
        )
        self._thread.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            _touch_runs(self.engine)
            try:
                held = self.conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                        " AND classid::int8 = CAST(:hi AS int8) AND objid::int8 = CAST(:lo AS int8)"
                    ),
                    {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF},
                ).scalar_one()
            except Exception as exc:
                log.error("run lock: the session holding the advisory lock failed (%s); this "
                          "run stops at its next safe point", exc)
                self.lost.set()
                return
            if not held:
                log.error("run lock: the advisory lock is no longer held; this run stops at "
                          "its next safe point")
                self.lost.set()
                return

    def _unlock(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
        try:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.conn.close()
        except Exception as exc:
            # Closing the session is what really frees the lock: make sure it closes.
            log.warning("run lock: unlock failed, closing the session instead: %s", exc)
            try:
                self.conn.invalidate()
            finally:
                self.conn.close()

    def release(self) -> None:
        try:
            self._delete_row()
        except Exception as exc:
            log.warning("run lock: could not clear the holder row: %s", exc)
        self._unlock()

    def close_unheld(self) -> None:
        self.conn.close()


# --- the public API -----------------------------------------------------------------------


@contextmanager
def run_lock(
    engine: Engine,
    *,
    wait: bool,
    holder: str | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = 1.0,
    name: str = LOCK_NAME,
) -> Iterator[LockHandle]:
    """Hold the store's run lock for the ``with`` block.

    Raises ``LockHeld`` (exit 4), naming the holder, when another run holds it and
    ``wait`` is False; with ``wait`` it polls every ``poll_s`` seconds until free.
    ``lease_s`` is the lease length on SQLite/MariaDB (renewed every third of it).
    """
    key = (str(engine.url), name)
    me = threading.get_ident()
    with _held_guard:
        entry = _held.get(key)
        if entry is not None and entry[0] == me:
            entry[1] += 1
            reentered: LockHandle | None = entry[2]
        else:
            reentered = None
    if reentered is not None:
        try:
            yield reentered
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return

    who = holder or _default_holder()
    impl: _Lease | _Advisory
    if _dialect(engine) == "postgresql":
        impl = _Advisory(engine, name, who)
        mechanism = "advisory"
    else:
        impl = _Lease(engine, name, who, lease_s)
        mechanism = "lease"

    announced = False
    try:
        while True:
            current = impl.try_acquire()
            if current is None:
                break
            if not wait:
                raise _lock_held_error(current)
            if not announced:
                log.info("run lock: waiting for %s", describe_holder(current))
                announced = True
            time.sleep(poll_s)
    except BaseException:
        if isinstance(impl, _Advisory):
            impl.close_unheld()
        raise

    if isinstance(impl, _Lease):
        impl.start_heartbeat()
    else:
        impl.start_heartbeat(lease_s / 3.0)
    assert impl.acquired_at is not None
    handle = LockHandle(
        name=name,
        holder=who,
        host=impl.host,
        pid=impl.pid,
        mechanism=mechanism,
        acquired_at=impl.acquired_at,
        lost=impl.lost,
    )
    with _held_guard:
        _held[key] = [me, 1, handle]
    log.debug("run lock: taken by %s (%s)", who, mechanism)
    taken_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        _close_dead_runs(engine)
        yield handle
    except (Terminated, KeyboardInterrupt) as exc:
        _interrupt_own_runs(engine, exc, taken_at)
        raise
    finally:
        with _held_guard:
            _held.pop(key, None)
        impl.release()
        log.debug("run lock: released by %s", who)


def lock_holder(engine: Engine, name: str = LOCK_NAME) -> dict[str, Any] | None:
    """Who holds the run lock now, or None when it is free.

    Keys: holder, host, pid, acquired_at, heartbeat_at, expires_at (naive UTC) and
    mechanism ("advisory" on PostgreSQL, "lease" elsewhere; on PostgreSQL expires_at and
    heartbeat_at carry no meaning and ``backend_pid`` is the server session's pid).
    """
    if _dialect(engine) == "postgresql":
        key = _advisory_key(name)
        hi, lo = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        with engine.connect() as conn:
            backend = conn.execute(
                text(
                    "SELECT l.pid FROM pg_locks l"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                    " AND l.database = (SELECT oid FROM pg_database"
                    "                   WHERE datname = current_database())"
                    " AND l.classid::int8 = CAST(:hi AS int8)"
                    " AND l.objid::int8 = CAST(:lo AS int8)"
                ),
                {"hi": hi, "lo": lo},
            ).scalar()
            if backend is None:
                return None
            row = _read_row(conn, name)
        info = _public(row, "advisory") if row else {
            "holder": "unknown", "host": None, "pid": None, "acquired_at": None,
            "heartbeat_at": None, "expires_at": None, "mechanism": "advisory",
        }
        info["backend_pid"] = backend
        return info
    with engine.connect() as conn:
        now = _db_now(conn)
        row = _read_row(conn, name)
    if row is None or not _lease_blocks(row, now):
        return None
    return _public(row, "lease")
