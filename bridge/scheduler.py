"""``segbridge daemon``: the ``[schedule]`` cron jobs, one run at a time, stopped safely.

- Two jobs, ``run`` (sync + evaluate + push) and ``full_resync`` (the same with a full
  sync), on APScheduler 3 cron triggers in UTC. Both go to ONE single-worker executor,
  so they never overlap inside the daemon; each run also takes the store's run lock, so
  they never overlap with an admin's ``segbridge resync`` on another machine either (a
  busy lock: that firing is logged and skipped).
- Coalescing: firings missed while a run was busy or the machine slept collapse into
  one. A firing later than its misfire grace time is dropped (the next one comes soon
  for ``run``; ``full_resync`` gets hours of grace so a long run does not cost a week).
- SIGTERM/SIGINT only set the stop flag (``bridge.shutdown``): the push's apply loop
  stops after the write in flight, the journal keeps the rest, and the next run (this
  daemon's next start, or any ``run``/``push``) finishes it. On start, an unfinished
  journal triggers a run straight away.
- One summary log line per run, with its counts, in ``[log] format`` (text or JSON).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import SQLAlchemyError

from bridge import shutdown
from bridge.cron import cron_trigger
from bridge.errors import EXIT_OK, EXIT_PARTIAL, ConfigError, LockHeld, SegbridgeError

log = logging.getLogger("bridge.scheduler")

# A ``run`` firing that could not start within 5 minutes is dropped: the next one is at
# most one schedule period away and does the same work.
RUN_MISFIRE_GRACE_S = 300
# A ``full_resync`` is rare (weekly by default): it may start up to 6 hours late, e.g.
# after a long run or a restart, rather than be skipped until next week.
RESYNC_MISFIRE_GRACE_S = 6 * 3600

JOB_RUN = "run"
JOB_RESYNC = "full_resync"

Runner = Callable[..., Any]


def _one_line(exc: BaseException, config: Any) -> str:
    """A failure as one line: a store error names the store (password hidden) and the
    driver's first line, not SQLAlchemy's statement and background link."""
    from bridge.output import safe

    if isinstance(exc, SQLAlchemyError):
        from bridge.store.engine import cause_of, describe_store

        url = getattr(getattr(config, "store", None), "url", None) or ""
        return f"the store {describe_store(url)} (store.url) failed: {safe(cause_of(exc))}"
    return " ".join(safe(line) for line in str(exc).splitlines() if line.strip())


def _default_runner(config: Any, *, full: bool) -> Any:
    from bridge.pipeline import run_once

    return run_once(config, full=full, wait=False)


def _sizes(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return len(value)
    return 0


def evaluation_totals(evaluation: Any) -> dict[str, int]:
    """members / joined / left summed over segments, from ``evaluate``'s result
    (``{code: EvalResult(members, joined, left)}``, counts or collections of ids)."""
    totals = {"segments": 0, "members": 0, "joined": 0, "left": 0}
    if not isinstance(evaluation, dict):
        return totals
    for res in evaluation.values():
        totals["segments"] += 1
        for key in ("members", "joined", "left"):
            v = res.get(key) if isinstance(res, dict) else getattr(res, key, None)
            totals[key] += _sizes(v)
    return totals


def sync_totals(sync: Any) -> dict[str, Any]:
    """Numbers only, flattened one level: what the summary line can carry."""
    if sync is None:
        return {}
    if not isinstance(sync, dict):
        for attr in ("summary", "as_dict", "to_dict"):
            fn = getattr(sync, attr, None)
            if callable(fn):
                sync = fn()
                break
        else:
            sync = {k: v for k, v in vars(sync).items() if not k.startswith("_")} if hasattr(
                sync, "__dict__") else {}
    out: dict[str, Any] = {}
    if not isinstance(sync, dict):
        return out
    for key, value in sync.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[str(key)] = value
        elif isinstance(value, dict):
            for k2, v2 in value.items():
                if isinstance(v2, (int, float)) and not isinstance(v2, bool):
                    out[f"{key}.{k2}"] = v2
    return out


def _num(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def summarize_counts(counts: Any, kind: str | None = None) -> dict[str, dict[str, Any]]:
    """A run's ``counts`` (as stored in ``runs.counts``) boiled down to a few numbers per
    stage: rows stored per entity, joins/leaves summed over segments, push steps by state.
    ``kind`` names the stage when the counts are one stage's own (``segbridge push``)."""
    if not isinstance(counts, dict):
        return {}
    if kind in ("sync", "evaluate", "push") and not {"sync", "evaluate", "push"} & set(counts):
        counts = {kind: counts}
    out: dict[str, dict[str, Any]] = {}
    sync = counts.get("sync")
    if isinstance(sync, dict):
        s: dict[str, Any] = {}
        entities = sync.get("entities")
        if isinstance(entities, dict):
            for name, e in entities.items():
                if not isinstance(e, dict):
                    continue
                n = _num(e.get("stored", e.get("fetched")))
                if n is not None:
                    s[str(name)] = n
                if _num(e.get("deleted")):
                    s[f"{name}_deleted"] = e["deleted"]
            for key in ("quarantined", "requests", "retries"):
                if _num(sync.get(key)) is not None:
                    s[key] = sync[key]
        else:
            s = sync_totals(sync)
        out["sync"] = s
    evaluation = counts.get("evaluate")
    if isinstance(evaluation, dict):
        out["evaluate"] = evaluation_totals(evaluation)
    push = counts.get("push")
    if isinstance(push, dict):
        p: dict[str, Any] = {}
        if _num(push.get("planned")) is not None:
            p["planned"] = push["planned"]
        steps = push.get("steps")
        if isinstance(steps, dict):
            p.update({str(k): v for k, v in steps.items() if _num(v) is not None})
        created = push.get("created")
        if isinstance(created, dict) and created:
            p["created"] = sum(v for v in created.values() if _num(v) is not None)
        for key in ("resumed_batches", "refused", "overridden", "drift"):
            value = push.get(key)
            n = _num(value) if not isinstance(value, (list, tuple)) else len(value)
            if n:
                p[key] = n
        out["push"] = p
    return out


def run_summary(job: str, result: Any, duration_s: float) -> dict[str, Any]:
    """The facts of one run for its summary line (JSON-safe, small at any scale)."""
    exit_code = int(getattr(result, "exit_code", EXIT_OK))
    status = "ok" if exit_code == EXIT_OK else "partial" if exit_code == EXIT_PARTIAL \
        else "failed"
    if getattr(result, "status", None) == "stopped":  # a stop request ended it early
        status = "stopped"
    fields: dict[str, Any] = {
        "event": "run_summary",
        "job": job,
        "run_id": getattr(result, "run_id", None),
        "status": status,
        "exit_code": exit_code,
        "duration_s": round(duration_s, 2),
    }
    as_of = getattr(result, "as_of", None)
    if isinstance(as_of, datetime):
        fields["as_of"] = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    counts = getattr(result, "counts", None)
    if isinstance(counts, dict) and counts:  # what run_once also stored in runs.counts
        fields.update(summarize_counts(counts))
        return fields
    fields["sync"] = sync_totals(getattr(result, "sync", None))
    fields["evaluate"] = evaluation_totals(getattr(result, "evaluation", None))
    push = getattr(result, "push", None)
    if push is not None and callable(getattr(push, "summary", None)):
        s = push.summary()
        fields["push"] = {
            "planned": s.get("planned", 0),
            "resumed_batches": len(s.get("resumed_batches") or []),
            **{f"steps.{k}": v for k, v in (s.get("steps") or {}).items()},
            "refused": len(s.get("refused") or []),
            "overridden": len(s.get("overridden") or []),
            "drift": len(s.get("drift") or []),
        }
    return fields


class Daemon:
    """The scheduler and its two jobs. ``triggers`` and ``runner`` are replaceable so that
    tests can fire in seconds instead of cron minutes; production uses the defaults."""

    def __init__(
        self,
        config: Any,
        *,
        runner: Runner | None = None,
        triggers: dict[str, Any] | None = None,
        check_journal: bool = True,
    ) -> None:
        self.config = config
        self.runner = runner or _default_runner
        self.triggers = triggers or {
            JOB_RUN: cron_trigger(config.schedule.run),
            JOB_RESYNC: cron_trigger(config.schedule.full_resync),
        }
        self.check_journal = check_journal
        self._busy = threading.Lock()
        self._finished = threading.Event()
        self.summaries: list[dict[str, Any]] = []
        self.scheduler: BaseScheduler = BlockingScheduler(
            timezone=UTC,
            # ONE worker for both jobs: a resync due during a run waits for it.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)

    # -- one firing ------------------------------------------------------------------------

    def fire(self, job: str) -> dict[str, Any] | None:
        """Run one job now (the scheduler calls this); its summary, or None if skipped."""
        if shutdown.stop_requested():
            log.info("%s skipped: the daemon is stopping", job,
                     extra={"fields": {"event": "run_skipped", "job": job, "reason": "stopping"}})
            return None
        if not self._busy.acquire(blocking=False):  # belt and braces: one worker anyway
            log.warning("%s skipped: another job is still running", job,
                        extra={"fields": {"event": "run_skipped", "job": job, "reason": "busy"}})
            return None
        started = time.monotonic()
        try:
            try:
                result = self.runner(self.config, full=(job == JOB_RESYNC))
            except LockHeld as exc:
                log.warning("%s skipped: %s", job, exc, extra={"fields": {
                    "event": "run_skipped", "job": job, "reason": "locked"}})
                return None
            except ConfigError as exc:
                # bad mappings or a plan over push.max_changes: nothing was written
                log.error("%s refused, nothing written: %s", job, "; ".join(exc.problems),
                          extra={"fields": {"event": "run_summary", "job": job,
                                            "status": "refused", "exit_code": exc.exit_code,
                                            "duration_s": round(time.monotonic() - started, 2)}})
                return None
            except (SegbridgeError, SQLAlchemyError) as exc:
                # the store or the shop cannot be reached, a sync that failed: said in one
                # line (no traceback), and the next firing tries again
                log.error("%s failed: %s; trying again at the next scheduled run", job,
                          _one_line(exc, self.config), extra={"fields": {
                              "event": "run_summary", "job": job, "status": "failed",
                              "exit_code": getattr(exc, "exit_code", 1),
                              "duration_s": round(time.monotonic() - started, 2)}})
                return None
            except Exception as exc:
                log.error("%s failed: %s", job, exc, exc_info=True, extra={"fields": {
                    "event": "run_summary", "job": job, "status": "failed", "exit_code": 1,
                    "duration_s": round(time.monotonic() - started, 2)}})
                return None
            fields = run_summary(job, result, time.monotonic() - started)
            self.summaries.append(fields)
            level = logging.INFO if fields["status"] in ("ok", "stopped") else logging.WARNING
            stopped = " (stopped early: the journal keeps the rest)" if (
                shutdown.stop_requested()) else ""
            log.log(level, "%s %s finished: %s%s", job, fields.get("run_id") or "",
                    fields["status"], stopped, extra={"fields": fields})
            return fields
        finally:
            self._busy.release()

    def _missed(self, event: JobExecutionEvent) -> None:
        log.warning("%s firing of %s UTC dropped: it could not start within its misfire "
                    "grace time", event.job_id, event.scheduled_run_time.strftime(
                        "%Y-%m-%d %H:%M:%S"),
                    extra={"fields": {"event": "run_missed", "job": event.job_id}})

    # -- the loop --------------------------------------------------------------------------

    def _unfinished_journal(self) -> bool:
        try:
            from bridge.push.journal import open_batches
            from bridge.store.engine import open_store

            engine = open_store(self.config.store.url)
            try:
                return bool(open_batches(engine))
            finally:
                engine.dispose()
        except Exception as exc:  # no push tables yet, store unreachable: the run will say
            log.debug("could not look for an unfinished journal: %s", exc)
            return False

    def _stop_scheduler(self) -> None:
        """Stop the loop; a stop that comes while it is still starting waits for it."""
        while not self._finished.is_set():
            if self.scheduler.running:
                try:
                    self.scheduler.shutdown(wait=False)
                    return
                except Exception:  # stopped meanwhile
                    pass
            time.sleep(0.02)

    def serve(self, *, install_signals: bool = True) -> int:
        """Run until a stop is requested; returns once the run in flight has finished."""
        if install_signals:
            shutdown.install_signal_handlers()
        # From a signal handler, only wake the loop from another thread: the main thread
        # may hold the scheduler's locks at the moment the signal arrives.
        shutdown.on_stop(lambda: threading.Thread(target=self._stop_scheduler,
                                                  daemon=True).start())
        now = datetime.now(UTC)
        for job, grace in ((JOB_RUN, RUN_MISFIRE_GRACE_S), (JOB_RESYNC, RESYNC_MISFIRE_GRACE_S)):
            self.scheduler.add_job(
                self.fire, self.triggers[job], args=[job], id=job, name=job,
                coalesce=True, max_instances=1, misfire_grace_time=grace,
                replace_existing=True,
            )
        if self.check_journal and self._unfinished_journal():
            log.info("an interrupted push left an unfinished journal: running now to finish it",
                     extra={"fields": {"event": "journal_resume"}})
            self.scheduler.get_job(JOB_RUN).modify(next_run_time=now + timedelta(seconds=1))
        nexts = {
            job: self.triggers[job].get_next_fire_time(None, now) for job in (JOB_RUN, JOB_RESYNC)
        }
        log.info(
            "daemon started: run %r, full_resync %r (UTC)",
            getattr(self.config.schedule, "run", "?"),
            getattr(self.config.schedule, "full_resync", "?"),
            extra={"fields": {"event": "daemon_started", **{
                f"next_{k}": v.strftime("%Y-%m-%dT%H:%M:%SZ") if v else None
                for k, v in nexts.items()}}},
        )
        try:
            if not shutdown.stop_requested():
                self.scheduler.start()  # blocks until _stop_scheduler
        finally:
            self._finished.set()
        if self._busy.locked():
            log.info("waiting for the run in flight to reach a safe point")
        with self._busy:  # the job in flight finishes its write, then we leave
            pass
        log.info("daemon stopped", extra={"fields": {"event": "daemon_stopped",
                                                      "runs": len(self.summaries)}})
        return EXIT_OK


def cmd_daemon(ctx: Any, args: Any) -> int:
    """``segbridge daemon``: run ``[schedule]`` until SIGTERM/SIGINT."""
    config = ctx.config()  # also applies [log] format (bridge.cli.CliContext)
    shutdown.reset()
    return Daemon(config).serve()
