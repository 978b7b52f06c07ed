"""Evaluate segments in the store and record who joined and who left.

Everything happens inside the database in one transaction: the compiled plan fills
temporary aggregate tables, one SELECT writes each customer's memberships into a
temporary "wide" table (only customers in at least one segment), and set differences
in SQL against ``segment_members`` give the joins and leaves — no Python loop over the
customers. A failure leaves the previous memberships untouched.

Why this file is long (about 850 lines): the one recording transaction and everything
that must happen inside it live together: the database tuning, the parallel side
connection that builds the aggregate tables on PostgreSQL and MariaDB, the wide table,
the joins and leaves, the holdout marks, retiring removed segments and the segments'
records. Split apart, each piece would have to be handed the same connection, plan and
evaluation id and called in the same order; here the order reads top to bottom. What
needs no transaction already lives elsewhere (``compiler/``, ``requires.py``,
``bridge.lift.holdout``, ``bridge.privacy.evaluation``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError

from bridge.errors import ConfigError
from bridge.lift.holdout import check_share, held_out
from bridge.lock import pid_alive
from bridge.privacy.evaluation import drop_opted_out, refuse_unkept
from bridge.segments.compiler import (
    CompiledPlan,
    Lookups,
    Step,
    compile_segments,
    fill_statements,
    fill_table,
)
from bridge.segments.lanes import run_task
from bridge.segments.model import Segment
from bridge.segments.requires import refused_segments as module_data_refused
from bridge.store import models as m
from bridge.store.segment_tables import Evaluation, SegmentHistory, SegmentMember, SegmentRecord
from bridge.timeutil import utcnow

log = logging.getLogger(__name__)

MEMBERS = SegmentMember.__table__
HISTORY = SegmentHistory.__table__
SEGMENTS = SegmentRecord.__table__
EVALUATIONS = Evaluation.__table__
CUSTOMERS = m.Customer.__table__


@dataclass(frozen=True)
class EvalResult:
    members: int
    joined: int
    left: int

    def as_dict(self) -> dict[str, int]:
        return {"members": self.members, "joined": self.joined, "left": self.left}


CACHE = -262144  # SQLite page cache per schema during an evaluation: 256 MiB
PG_TEMP_BUFFERS = "1GB"  # PostgreSQL: the most memory the temporary tables may take


def _tune(conn: Connection) -> None:
    """SQLite: temporary tables in memory and a real page cache for the big joins;
    PostgreSQL: enough work_mem to group a million customers without spilling."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.exec_driver_sql(f"PRAGMA main.cache_size={CACHE}")  # a real cache for this run
        conn.exec_driver_sql(f"PRAGMA temp.cache_size={CACHE}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET work_mem = '256MB'")  # group 1M customers in memory
        if conn.in_transaction():
            conn.commit()
        # the temporary tables live in temp_buffers (default 8MB): at a million customers
        # they spill to disk page by page (the per-order flag table took 8.7 s instead of
        # 6.4 s). Only settable before this session first touches a temporary table.
        try:
            conn.exec_driver_sql(f"SET temp_buffers = '{PG_TEMP_BUFFERS}'")
        except DBAPIError:
            conn.rollback()
    if conn.in_transaction():
        conn.commit()


def _untune(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA main.cache_size=-2000")
        conn.exec_driver_sql("PRAGMA temp.cache_size=-2000")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("RESET work_mem")
    if conn.in_transaction():
        conn.commit()


def _wanted(segments: Sequence[Segment], only: Sequence[str] | None) -> list[Segment]:
    codes = {s.code for s in segments}
    if only:
        unknown = [c for c in only if c not in codes]
        if unknown:
            raise ConfigError([f"{c}: no segment file has this code" for c in unknown])
        inactive = [s.code for s in segments if s.code in only and not s.active]
        if inactive:
            raise ConfigError([f"{c}: the segment is not active" for c in inactive])
    return [s for s in segments if s.active and (not only or s.code in only)]


class ParallelSide:
    """SQLite on a big store: spread the evaluation over two worker processes.

    The plan's SQL is unchanged; only the connection it runs on differs. Before the
    recording transaction begins, two worker processes (``bridge.segments.lanes``: two
    threads of one process do not get two cores' worth of SQLite) build every
    intermediate table in scratch database files:

    1. the workers take tasks from one queue, in this order: the "rows" steps (the item
       pass), the "main" steps (address, cart and the other passes, in order), and the
       grouped pass over orders for the customers below the median customer id, then
       for the rest (the orders pass reads only the store's tables, so it needs no
       other task's output). A queue, not fixed pairs, so that no worker idles while
       the other still has two tasks ahead;
    2. the membership SELECT ("wide") for the lower customers ‖ the upper ones.

    Each task writes its own scratch file and attaches the files it reads; unqualified
    table names resolve to them (SQLite searches temp, main, then attached databases).
    The recording connection then copies the two halves of "wide" into its temporary
    table and records joins and leaves as usual. Stores with fewer than
    ``SPLIT_MIN_CUSTOMERS`` customers run on one connection (starting the workers costs
    more than they save), and so does any store with ``SEGBRIDGE_EVAL_PARALLEL=0``.
    """

    FILES = ("rows", "cust", "low", "high")
    WORKERS = 2

    def __init__(self, paths: dict[str, str], customers: int) -> None:
        self.paths = paths
        self.customers = customers  # counted by attach()
        self.md = MetaData()
        self.halves: list[str] = []

    @classmethod
    def attach(cls, conn: Connection) -> ParallelSide | None:
        """Scratch files, the two halves attached to ``conn`` (outside a transaction)."""
        if conn.dialect.name != "sqlite" or os.environ.get("SEGBRIDGE_EVAL_PARALLEL") == "0":
            return None
        if (os.cpu_count() or 1) < 2:
            return None
        db = conn.engine.url.database
        if not db or db == ":memory:" or db.startswith("file:"):
            return None
        if conn.in_transaction():  # ATTACH cannot run in one, and it is not ours to end
            return None
        customers = int(conn.execute(select(func.count()).select_from(CUSTOMERS)).scalar_one())
        conn.commit()  # the count's own transaction
        if customers < SPLIT_MIN_CUSTOMERS:  # worker processes cost more than they save
            return None
        sweep_scratch(tempfile.gettempdir())
        paths: dict[str, str] = {}
        for name in cls.FILES:
            fd, path = tempfile.mkstemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{name}-",
                                        suffix=".db")
            os.close(fd)
            paths[name] = path
        side = cls(paths, customers)
        try:
            for name in ("low", "high"):
                conn.exec_driver_sql(f"ATTACH DATABASE ? AS sb_{name}", (paths[name],))
        except Exception:  # e.g. inside a transaction: run on one connection
            side.detach(conn)
            return None
        if conn.in_transaction():
            conn.commit()
        return side

    def _in(self, table: Table, alias: str) -> Table:
        key = f"{alias}.{table.name}"
        if key in self.md.tables:
            return self.md.tables[key]
        cols = [Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns]
        return Table(table.name, self.md, *cols, schema=alias)

    def _pool(self) -> Executor:
        """WORKERS worker processes (see ``bridge.segments.lanes``), or threads of this
        process where processes cannot be had (they still work, only more slowly)."""
        try:
            return ProcessPoolExecutor(
                self.WORKERS, mp_context=multiprocessing.get_context("spawn")
            )
        except (OSError, ImportError, NotImplementedError) as exc:
            log.debug("evaluation workers in threads: %s", exc)
            return ThreadPoolExecutor(self.WORKERS, "segbridge-eval")

    def _run(
        self, conn: Connection, pool: Executor, tasks: list[tuple[dict[str, str], list[Any]]]
    ) -> None:
        """Run ``tasks`` (scratch files to attach by alias, statements) in list order on
        ``pool``; the first error is raised once every task has stopped or been dropped."""
        db = os.path.abspath(str(conn.engine.url.database))
        futures = [
            pool.submit(
                run_task,
                db,
                {alias: self.paths[name] for alias, name in files.items()},
                [_sql_text(conn, stmt) for stmt in stmts],
                -CACHE,
            )
            for files, stmts in tasks
        ]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()
        wait(futures)
        for f in futures:
            if not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        stats = [f.result() for f in futures]  # (wall s, CPU s, worker peak KiB) a task
        log.debug(
            "evaluation tasks took %s s (CPU %s s), workers' peak %s MiB",
            [round(w, 2) for w, _c, _k in stats],
            [round(c, 2) for _w, c, _k in stats],
            max(k for _w, _c, k in stats) // 1024,
            extra={"segbridge_tasks": stats},
        )

    def build(self, conn: Connection, plan: CompiledPlan, wide: _Wide) -> None:
        """Steps 1–2 (see the class docstring), outside any transaction of ``conn``."""
        rows = [st for st in plan.steps if st.kind == "rows"]
        cust = [st for st in plan.steps if st.kind == "main"]
        orders = [st for st in plan.steps if st.kind == "orders"]
        split = _median_customer(conn, self.customers)
        if conn.in_transaction():
            conn.commit()
        halves = [("low", None)] if split is None else [("low", "<"), ("high", ">=")]
        self.halves = [h for h, _ in halves]

        def into(steps: list[Step], alias: str, op: str | None = None) -> list[Any]:
            out: list[Any] = []
            for st in steps:
                where = None if op is None else _cmp(st.split_key, op, split)
                out += st.statements(self._in(st.table, alias), where)
            return out

        tasks: list[tuple[dict[str, str], list[Any]]] = []
        if rows:
            tasks.append(({"sb_r": "rows"}, into(rows, "sb_r")))
        if cust:
            tasks.append(({"sb_c": "cust"}, into(cust, "sb_c")))
        if orders:
            tasks += [({"sb_h": half}, into(orders, "sb_h", op)) for half, op in halves]
        with self._pool() as pool:
            if tasks:
                self._run(conn, pool, tasks)
            # every scratch file, created empty by attach(), can be attached: a task that
            # had nothing to do leaves it empty
            self._run(
                conn,
                pool,
                [
                    (
                        {"sb_r": "rows", "sb_c": "cust", "sb_h": half},
                        wide.statements(
                            plan,
                            self._in(wide.table, "sb_h"),
                            None if op is None else _cmp(plan_customer_id(), op, split),
                        ),
                    )
                    for half, op in halves
                ],
            )

    def copy_wide(self, conn: Connection, wide: _Wide) -> None:
        wide.table.create(conn)
        for half in self.halves:
            src = self._in(wide.table, f"sb_{half}")
            conn.execute(
                wide.table.insert().from_select([c.name for c in src.columns], select(*src.columns))
            )

    def detach(self, conn: Connection) -> None:
        try:
            if conn.in_transaction():
                conn.rollback()
            for name in ("low", "high"):
                try:
                    conn.exec_driver_sql(f"DETACH DATABASE sb_{name}")
                except Exception:  # noqa: S110 - was not attached
                    pass
            if conn.in_transaction():
                conn.commit()
        finally:
            for path in self.paths.values():
                for suffix in ("", "-journal", "-wal", "-shm"):
                    try:
                        os.unlink(path + suffix)
                    except FileNotFoundError:
                        pass


# Scratch files are named for the process that made them: ``segbridge-eval-<pid>-<file>-…``.
SCRATCH_PREFIX = "segbridge-eval-"
_SCRATCH_NAME = re.compile(
    re.escape(SCRATCH_PREFIX) + rf"(\d+)-(?:{'|'.join(ParallelSide.FILES)})-[^/]*"
    r"\.db(?:-journal|-wal|-shm)?"
)


def sweep_scratch(directory: str) -> None:
    """Delete the scratch files of evaluations whose process is gone: one killed outright
    (SIGKILL, the machine's OOM killer) could not delete its own, which on a big store
    hold hundreds of MB. A file whose process still runs — or whose process id another
    process has taken since — is left alone."""
    gone: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _SCRATCH_NAME.fullmatch(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:  # another user's, or already gone
            continue
        gone.append(entry.name)
    if gone:
        log.info("deleted %d scratch file(s) of an evaluation that was killed: %s",
                 len(gone), ", ".join(sorted(gone)))


def _sql_text(conn: Connection, stmt: Any) -> str:
    """``stmt`` as SQL text for ``conn``'s dialect, values inlined (for a worker process)."""
    return str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def plan_customer_id() -> Any:
    return CUSTOMERS.c.id


def _cmp(col: Any, op: str, value: Any) -> Any:
    return col < value if op == "<" else col >= value


SPLIT_MIN_CUSTOMERS = 25_000  # below this one connection is as quick


def _median_customer(conn: Connection, customers: int) -> int | None:
    """The id that splits the ``customers`` in two halves (None: nobody to split).

    By customers, not orders: the membership SELECT, the last step and the only one that
    waits for all the others, costs per customer; the orders pass, split at the same id,
    takes uneven halves, which the task queue absorbs."""
    c = CUSTOMERS
    return conn.execute(select(c.c.id).order_by(c.c.id).limit(1).offset(customers // 2)).scalar()


class _Wide:
    """The temporary table of memberships: one row per customer in any wanted segment."""

    def __init__(self, plan: CompiledPlan) -> None:
        self.md = MetaData()
        self.labels = plan.columns
        self.table = Table(
            f"sb_wide_{uuid.uuid4().hex[:8]}",
            self.md,
            Column("customer_id", Integer, primary_key=True),
            *[Column(label, Boolean) for label in plan.columns.values()],
            prefixes=["TEMPORARY"],
        )

    def fill(self, conn: Connection, plan: CompiledPlan) -> None:
        self.fill_into(conn, plan, self.table)

    def fill_into(
        self, conn: Connection, plan: CompiledPlan, table: Table, where: Any = None
    ) -> None:
        """Create ``table`` and fill it from the plan's SELECT (customers matching ``where``)."""
        fill_table(conn, table, self._names(), self._query(plan, where))

    def statements(self, plan: CompiledPlan, table: Table, where: Any = None) -> list[Any]:
        """The statements of fill_into()."""
        return fill_statements(table, self._names(), self._query(plan, where))

    def _names(self) -> list[str]:
        return ["customer_id", *self.labels.values()]

    def _query(self, plan: CompiledPlan, where: Any) -> Any:
        """The plan's SELECT, for the customers matching ``where`` in any segment (None:
        no segment wanted, nobody to write).

        On SQLite the subquery must not be flattened (``LIMIT -1``): flattened, every
        segment's expression would be computed twice, in the WHERE and in the row.
        """
        if not self.labels:
            return None
        base = plan.select if where is None else plan.select.where(where)
        sub = base.suffix_with("LIMIT -1", dialect="sqlite").subquery()
        labels = list(self.labels.values())
        return select(sub.c.customer_id, *[sub.c[lbl] for lbl in labels]).where(
            or_(*[sub.c[lbl] == true() for lbl in labels])
        )

    def member(self, code: str) -> Any:
        return self.table.c[self.labels[code]] == true()

    def drop(self, conn: Connection) -> None:
        word = "TEMPORARY TABLE" if conn.dialect.name in ("mysql", "mariadb") else "TABLE"
        conn.exec_driver_sql(f"DROP {word} IF EXISTS {self.table.name}")


def compute_memberships(
    conn: Connection,
    segments: Sequence[Segment],
    as_of: datetime,
    config: Any = None,
    only: Sequence[str] | None = None,
    *,
    holdout: bool = True,
) -> dict[str, set[int]]:
    """Who is in each wanted segment as of ``as_of``, without recording anything, as
    the push sees them: a segment's held-out members are left out (``holdout=False``
    keeps them).

    A transaction the caller has open stays open (and the work stays on ``conn``)."""
    wanted = _wanted(segments, only)
    outer = conn.in_transaction()
    lookups = Lookups.load(conn)
    if not outer:
        conn.commit()  # the look-ups' own transaction
    plan = compile_segments(segments, as_of, config, lookups, [s.code for s in wanted])
    wide = _Wide(plan)
    plan.scratch = ParallelSide.attach(conn)
    try:
        if plan.scratch is not None:
            plan.scratch.build(conn, plan, wide)
            plan.scratch.copy_wide(conn, wide)
        else:
            plan.prepare(conn)
            wide.fill(conn, plan)
        drop_opted_out(conn, wide.table, config)  # objected: in no segment (docs/privacy.md)
        out: dict[str, set[int]] = {}
        for seg in wanted:
            rows = conn.execute(select(wide.table.c.customer_id).where(wide.member(seg.code)))
            out[seg.code] = {r[0] for r in rows}
            if holdout and seg.holdout:
                out[seg.code] -= held_out(seg.code, out[seg.code], seg.holdout)
        return out
    finally:
        wide.drop(conn)
        plan.drop(conn)
        if plan.scratch is not None:
            plan.scratch.detach(conn)


def evaluate(
    engine: Engine,
    segments: Sequence[Segment],
    as_of: datetime,
    run_id: int | None = None,
    *,
    config: Any = None,
    only: Sequence[str] | None = None,
) -> dict[str, EvalResult]:
    """Evaluate every active segment (or ``only`` these) and record joins and leaves.

    Without ``only``, segments that are no longer active (or whose file is gone) lose
    all their members, recorded as leaves, so that the push moves those customers home.
    """
    wanted = _wanted(segments, only)
    # a segment reading a field the store does not hold yet is refused (docs/privacy.md)
    refused = refuse_unkept(engine, segments, wanted)
    # a wishlist / viewed-product condition with no data from the module (requires.py)
    refused.update(module_data_refused(engine, segments, wanted))
    wanted = [s for s in wanted if s.code not in refused]
    started = utcnow()
    results: dict[str, EvalResult] = {}
    with engine.connect() as conn:
        _tune(conn)
        plan: CompiledPlan | None = None
        wide: _Wide | None = None
        try:
            lookups = Lookups.load(conn)
            if conn.in_transaction():
                conn.commit()
            plan = compile_segments(segments, as_of, config, lookups, [s.code for s in wanted])
            for w in plan.warnings:
                log.warning("%s", w)
            wide = _Wide(plan)
            plan.scratch = ParallelSide.attach(conn)
            if plan.scratch is not None:
                plan.scratch.build(conn, plan, wide)  # before the recording transaction
            with conn.begin():
                if plan.scratch is not None:
                    plan.scratch.copy_wide(conn, wide)
                else:
                    plan.prepare(conn)
                    wide.fill(conn, plan)
                drop_opted_out(conn, wide.table, config)
                eval_id = conn.execute(
                    insert(EVALUATIONS).values(run_id=run_id, as_of=as_of, started_at=started)
                ).inserted_primary_key[0]
                now, before = _counts(conn, wide, [s.code for s in wanted])
                shares = _stored_shares(conn)
                for seg in wanted:
                    results[seg.code] = _apply(
                        conn,
                        wide,
                        seg.code,
                        as_of,
                        run_id,
                        eval_id,
                        now[seg.code],
                        before[seg.code],
                    )
                    _mark_holdouts(conn, seg, shares.get(seg.code, 0.0), eval_id, as_of)
                if not only:
                    active = {s.code for s in wanted}
                    stale = conn.execute(select(MEMBERS.c.segment_code).distinct()).scalars().all()
                    for code in sorted(set(stale) - active - set(refused)):
                        results[code] = _retire(conn, code, as_of, run_id, eval_id)
                _record_segments(conn, segments, results, as_of, full=not only)
                conn.execute(
                    update(EVALUATIONS)
                    .where(EVALUATIONS.c.id == eval_id)
                    .values(
                        finished_at=utcnow(),
                        segments={c: r.as_dict() for c, r in results.items()},
                    )
                )
        finally:
            if conn.in_transaction():
                conn.rollback()
            if wide is not None:
                wide.drop(conn)
            if plan is not None:
                plan.drop(conn)
            if conn.in_transaction():
                conn.commit()
            if plan is not None and plan.scratch is not None:
                plan.scratch.detach(conn)
            _untune(conn)
    return results


def _hist_cols() -> list[str]:
    return ["segment_code", "customer_id", "event", "at", "run_id", "evaluation_id"]


def _leave_cols() -> list[str]:
    """A leave is recorded with the side the member had (copied from their membership)."""
    return [*_hist_cols(), "holdout"]


def _consts(code: str, event: str, as_of: datetime, run_id: int | None, eval_id: int) -> list[Any]:
    return [
        literal(code, String(64)),
        literal(event, String(8)),
        literal(as_of, DateTime()),
        literal(run_id, Integer()),
        literal(eval_id, Integer()),
    ]


def _count(conn: Connection, q: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(q.subquery())).scalar_one())


def _counts(
    conn: Connection, wide: _Wide, codes: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(members now, members before) of each segment: one pass over each table."""
    now: dict[str, int] = dict.fromkeys(codes, 0)
    if codes:
        row = conn.execute(
            select(*[func.sum(case((wide.member(c), 1), else_=0)) for c in codes])
        ).one()
        now = {c: int(v or 0) for c, v in zip(codes, row, strict=True)}
    before = dict.fromkeys(codes, 0)
    for code, n in conn.execute(
        select(MEMBERS.c.segment_code, func.count())
        .where(MEMBERS.c.segment_code.in_(codes))
        .group_by(MEMBERS.c.segment_code)
    ):
        before[code] = int(n)
    return now, before


def _apply(
    conn: Connection,
    wide: _Wide,
    code: str,
    as_of: datetime,
    run_id: int | None,
    eval_id: int,
    now: int,
    before: int,
) -> EvalResult:
    """Leaves and joins of one segment, as set differences in SQL.

    Only the leaves are found by an anti-join; joins = now − (before − leaves), so a
    segment that did not gain anyone costs one pass over its members.
    """
    w = wide.table
    c_code, c_left, c_at, c_run, c_eval = _consts(code, "left", as_of, run_id, eval_id)
    still = exists().where(w.c.customer_id == MEMBERS.c.customer_id, wide.member(code))
    gone = and_(MEMBERS.c.segment_code == code, ~still)
    # counted apart: not every driver reports INSERT … SELECT row counts (psycopg: -1)
    left = _count(conn, select(MEMBERS.c.customer_id).where(gone)) if before else 0
    if left:
        conn.execute(
            HISTORY.insert().from_select(
                _leave_cols(),
                select(
                    c_code, MEMBERS.c.customer_id, c_left, c_at, c_run, c_eval, MEMBERS.c.holdout
                ).where(gone),
            )
        )
        conn.execute(delete(MEMBERS).where(gone))
    joined = now - (before - left)
    if joined:
        already = exists().where(
            MEMBERS.c.segment_code == code, MEMBERS.c.customer_id == w.c.customer_id
        )
        # nobody stayed: every member now is new (no anti-join, which PostgreSQL plans
        # badly against a segment_members whose statistics still say "empty")
        new = wide.member(code) if before == left else and_(wide.member(code), ~already)
        c_joined = literal("joined", String(8))
        conn.execute(
            HISTORY.insert().from_select(
                _hist_cols(),
                select(c_code, w.c.customer_id, c_joined, c_at, c_run, c_eval).where(new),
            )
        )
        conn.execute(
            MEMBERS.insert().from_select(
                ["segment_code", "customer_id", "joined_at", "run_id"],
                select(c_code, w.c.customer_id, c_at, c_run).where(new),
            )
        )
    return EvalResult(now, joined, left)


HOLDOUT_CHUNK = 500  # ids per UPDATE … IN (…); more go through a temporary table


def _stored_shares(conn: Connection) -> dict[str, float]:
    """The holdout share each known segment's members were last marked with."""
    return {code: float(h or 0) for code, h in conn.execute(select(SEGMENTS.c.code,
                                                                   SEGMENTS.c.holdout))}


class _HeldIds:
    """Sets a holdout flag on the rows of many customers: up to HOLDOUT_CHUNK ids in the
    statement, more through a temporary table of ids, so that one UPDATE walks the rows
    once (``segment_history`` has no index on customer ids: an UPDATE per chunk of ids
    would read a big segment's joins once per chunk)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.table: Table | None = None

    def set(self, table: Table, where: Any, ids: set[int], value: bool) -> None:
        if not ids:
            return
        col = table.c.customer_id
        if len(ids) <= HOLDOUT_CHUNK:
            chosen: Any = col.in_(sorted(ids))
        else:
            scratch = self._scratch()
            self.conn.execute(delete(scratch))
            ordered = sorted(ids)
            for i in range(0, len(ordered), 10_000):
                self.conn.execute(insert(scratch),
                                  [{"customer_id": cid} for cid in ordered[i : i + 10_000]])
            chosen = col.in_(select(scratch.c.customer_id))
        self.conn.execute(update(table).where(where, chosen).values(holdout=value))

    def _scratch(self) -> Table:
        if self.table is None:
            self.table = Table(
                f"sb_held_{uuid.uuid4().hex[:8]}",
                MetaData(),
                Column("customer_id", Integer, primary_key=True),
                prefixes=["TEMPORARY"],
            )
            self.table.create(self.conn)
        return self.table

    def drop(self) -> None:
        if self.table is not None:
            word = "TEMPORARY TABLE" if self.conn.dialect.name in ("mysql", "mariadb") else "TABLE"
            self.conn.exec_driver_sql(f"DROP {word} IF EXISTS {self.table.name}")
            self.table = None


def _mark_holdouts(
    conn: Connection, seg: Segment, before: float, eval_id: int, as_of: datetime
) -> None:
    """Mark the held-out members of ``seg`` (``bridge.lift.holdout``'s rule, in Python, so
    the same customers on every database) in ``segment_members`` and on this
    evaluation's joins.

    The share unchanged: only the joiners need a side (the others kept theirs). The
    share changed: every member's side is worked out again and only the rows whose side
    changed are written (a customer's position does not depend on the share, so raising
    it only adds held-out members and lowering it only returns some). A segment without
    a holdout, then and now, costs nothing.
    """
    share = check_share(seg.holdout)
    if share == before == 0:
        return
    code = seg.code
    joined_now = and_(  # (segment_code, at) is indexed: only this evaluation's rows
        HISTORY.c.segment_code == code,
        HISTORY.c.at == as_of,
        HISTORY.c.evaluation_id == eval_id,
        HISTORY.c.event == "joined",
    )
    joiners = set(conn.execute(select(HISTORY.c.customer_id).where(joined_now)).scalars())
    mine = MEMBERS.c.segment_code == code
    flags = _HeldIds(conn)  # on an error the transaction's rollback takes its table
    if share == before:
        held = held_out(code, joiners, share)
        flags.set(MEMBERS, mine, held, True)
    else:
        flagged: set[int] = set()
        members: list[int] = []
        for cid, flag in conn.execute(select(MEMBERS.c.customer_id, MEMBERS.c.holdout)
                                      .where(mine)):
            members.append(cid)
            if flag:
                flagged.add(cid)
        held = held_out(code, members, share)
        flags.set(MEMBERS, mine, held - flagged, True)
        flags.set(MEMBERS, mine, flagged - held, False)
        moved_out, moved_in = len(held - flagged - joiners), len(flagged - held)
        if moved_out or moved_in:
            log.info(
                "segment %s: holdout %s -> %s: %d member(s) now held out, %d back in "
                "the push", code, before, share, moved_out, moved_in,
            )
    flags.set(HISTORY, joined_now, held & joiners, True)
    flags.drop()


def _retire(
    conn: Connection, code: str, as_of: datetime, run_id: int | None, eval_id: int
) -> EvalResult:
    """A segment that is gone or inactive: every member leaves."""
    c_code, c_left, c_at, c_run, c_eval = _consts(code, "left", as_of, run_id, eval_id)
    where = MEMBERS.c.segment_code == code
    left = _count(conn, select(MEMBERS.c.customer_id).where(where))
    conn.execute(
        HISTORY.insert().from_select(
            _leave_cols(),
            select(
                c_code, MEMBERS.c.customer_id, c_left, c_at, c_run, c_eval, MEMBERS.c.holdout
            ).where(where),
        )
    )
    conn.execute(delete(MEMBERS).where(where))
    log.info("segment %s is no longer active: %s members left", code, left)
    return EvalResult(0, 0, int(left or 0))


def _record_segments(
    conn: Connection,
    segments: Sequence[Segment],
    results: dict[str, EvalResult],
    as_of: datetime,
    full: bool,
) -> None:
    now = utcnow()
    known = {r.code: r for r in conn.execute(select(SEGMENTS))}
    for seg in segments:
        values: dict[str, Any] = {
            "name": seg.name,
            "description": seg.description,
            "active": seg.active,
            "website": seg.website,
            "priority": seg.priority,
            "group_code": seg.group.code if seg.group else None,
            "source": str(seg.source),
            "definition_hash": seg.definition_hash,
        }
        res = results.get(seg.code)
        old = known.get(seg.code)
        if res is not None:
            values.update(last_evaluated_at=now, last_as_of=as_of, members=res.members)
            if res.joined or res.left:
                values["last_changed_at"] = as_of
            # the share the members are marked with now (only an evaluated segment's:
            # the others' marks are still the old share's)
            values["holdout"] = float(seg.holdout)
            if old is None or float(old.holdout or 0) != float(seg.holdout):
                values["holdout_since"] = as_of
        if old is None:
            values.update(code=seg.code, first_seen_at=now, defined_at=now)
            values.setdefault("members", 0)
            conn.execute(insert(SEGMENTS).values(**values))
        else:
            if old.definition_hash != seg.definition_hash:
                values["defined_at"] = now
            conn.execute(update(SEGMENTS).where(SEGMENTS.c.code == seg.code).values(**values))
    if full:
        present = {s.code for s in segments}
        for code in known:
            if code in present:
                continue
            values = {"active": False}
            res = results.get(code)
            if res is not None:
                values.update(members=0, last_evaluated_at=now, last_as_of=as_of)
                if res.left:
                    values["last_changed_at"] = as_of
            conn.execute(update(SEGMENTS).where(SEGMENTS.c.code == code).values(**values))


def last_evaluation(conn: Connection) -> Any:
    """The newest finished evaluation row (None if there was none)."""
    return conn.execute(
        select(EVALUATIONS)
        .where(EVALUATIONS.c.finished_at.is_not(None))
        .order_by(EVALUATIONS.c.id.desc())
        .limit(1)
    ).first()
