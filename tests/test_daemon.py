"""``segbridge daemon``: one job at a time, busy lock skipped, clean stop, log lines.

The scheduler tests replace the cron triggers by second-long interval triggers (cron's
resolution is a minute) and, where the full pipeline is not the point, the run by a
job that takes the real run lock on a real store and records when it ran.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from bridge import shutdown
from bridge.config import parse_config
from bridge.errors import EXIT_PARTIAL
from bridge.lock import run_lock
from bridge.logging_setup import JsonFormatter, TextFormatter, setup_logging
from bridge.scheduler import JOB_RESYNC, JOB_RUN, Daemon, run_summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_stop_flag() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


def _config(db_url: str, **schedule: str) -> Any:
    return parse_config({"store": {"url": db_url}, "schedule": schedule or {}}, None)


class Recorder:
    """A run that takes the real run lock and notes when it held it."""

    def __init__(self, engine: Engine, hold_s: float) -> None:
        self.engine = engine
        self.hold_s = hold_s
        self.spans: list[tuple[str, float, float]] = []
        self.calls = 0

    def __call__(self, config: Any, *, full: bool) -> Any:
        self.calls += 1
        job = JOB_RESYNC if full else JOB_RUN
        with run_lock(self.engine, wait=False, holder=f"test {job}"):
            start = time.monotonic()
            time.sleep(self.hold_s)
            self.spans.append((job, start, time.monotonic()))
        return SimpleNamespace(run_id=len(self.spans), exit_code=0, sync={"customers": 3},
                               evaluation={}, push=None)


def _serve_in_thread(daemon: Daemon) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        out["code"] = daemon.serve(install_signals=False)
        out["returned_at"] = time.monotonic()

    t = threading.Thread(target=target)
    t.start()
    return t, out


@pytest.mark.db
def test_run_and_resync_never_overlap_and_stop_waits_for_the_run(
    engine: Engine, db_url: str
) -> None:
    rec = Recorder(engine, hold_s=0.35)
    daemon = Daemon(
        _config(db_url),
        runner=rec,
        triggers={JOB_RUN: IntervalTrigger(seconds=0.1), JOB_RESYNC: IntervalTrigger(seconds=0.15)},
        check_journal=False,
    )
    t, out = _serve_in_thread(daemon)
    deadline = time.monotonic() + 20
    while len(rec.spans) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    while rec.calls == len(rec.spans):  # stop while a run is in flight
        time.sleep(0.01)
    shutdown.request_stop("by the test")
    t.join(20)
    assert not t.is_alive() and out["code"] == 0
    spans = sorted(rec.spans, key=lambda s: s[1])
    assert len(spans) >= 5
    assert {job for job, _, _ in spans} == {JOB_RUN, JOB_RESYNC}
    for (_, _, end), (_, start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"two jobs overlapped: {spans}"
    # the run in flight at the stop finished before serve() returned, and none started after
    assert rec.calls == len(rec.spans)
    assert spans[-1][2] <= out["returned_at"]
    # coalescing: 0.1 s triggers during 0.35 s runs did not pile up a backlog
    assert len(spans) <= 2 + (spans[-1][2] - spans[0][1]) / 0.35


@pytest.mark.db
def test_busy_lock_skips_the_firing_and_the_daemon_carries_on(
    engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder(engine, hold_s=0.05)
    daemon = Daemon(
        _config(db_url),
        runner=rec,
        triggers={JOB_RUN: IntervalTrigger(seconds=0.2),
                  JOB_RESYNC: DateTrigger(datetime.now(UTC) + timedelta(days=1))},
        check_journal=False,
    )
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom bridge.lock import run_lock\n"
         "from bridge.store.engine import make_engine\n"
         "with run_lock(make_engine(sys.argv[1]), wait=False, holder='segbridge resync'):\n"
         "    print('ready', flush=True); time.sleep(1.2)\n", db_url],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
    with caplog.at_level(logging.INFO, logger="bridge.scheduler"):
        t, out = _serve_in_thread(daemon)
        deadline = time.monotonic() + 20
        while len(rec.spans) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        shutdown.request_stop("by the test")
        t.join(20)
    holder.wait(10)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped, caplog.text
    assert "'segbridge resync'" in skipped[0].getMessage()
    assert skipped[0].fields["reason"] == "locked"  # type: ignore[attr-defined]
    assert len(rec.spans) >= 2, "the daemon did not run again once the lock was free"
    assert len(daemon.summaries) == len(rec.spans)


def test_a_failing_run_is_logged_and_the_next_firing_still_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def flaky(config: Any, *, full: bool) -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("Magento answered 503 for too long")
        return SimpleNamespace(run_id=len(calls), exit_code=EXIT_PARTIAL)

    daemon = Daemon(
        _config(f"sqlite:///{tmp_path / 's.db'}"), runner=flaky, check_journal=False,
        triggers={JOB_RUN: IntervalTrigger(seconds=0.1),
                  JOB_RESYNC: DateTrigger(datetime.now(UTC) + timedelta(days=1))},
    )
    with caplog.at_level(logging.INFO, logger="bridge.scheduler"):
        t, _ = _serve_in_thread(daemon)
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        shutdown.request_stop()
        t.join(10)
    assert len(calls) >= 2
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failed and "503" in failed[0].getMessage() and failed[0].exc_info
    assert daemon.summaries[0]["status"] == "partial"


def test_summary_line_in_json_and_text() -> None:
    from bridge.pipeline import RunResult
    from bridge.push.service import PushResult

    push = PushResult()
    push.states.update({"done": 4, "stale": 1})
    push.refused.append({"kind": "customer", "key": "7", "message": "no"})
    result = RunResult(
        run_id=12, kind="run", as_of=datetime(2026, 11, 22, 7, 0),
        sync={"customers": {"fetched": 10, "written": 9}, "orders": 3, "note": "x"},
        evaluation={"vip": SimpleNamespace(members={1, 2, 3}, joined=[3], left=[]),
                    "lapsed": {"members": 5, "joined": 1, "left": 2}},
        push=push, exit_code=EXIT_PARTIAL,
    )
    fields = run_summary(JOB_RUN, result, 3.21)
    assert fields["status"] == "partial" and fields["run_id"] == 12
    assert fields["evaluate"] == {"segments": 2, "members": 8, "joined": 2, "left": 2}
    assert fields["sync"] == {"customers.fetched": 10, "customers.written": 9, "orders": 3}
    assert fields["push"]["steps.done"] == 4 and fields["push"]["refused"] == 1

    record = logging.LogRecord("bridge.scheduler", logging.INFO, __file__, 1,
                               "run %s finished: %s", (12, "partial"), None)
    record.fields = fields
    obj = json.loads(JsonFormatter().format(record))
    assert obj["msg"] == "run 12 finished: partial" and obj["level"] == "INFO"
    assert obj["evaluate"]["joined"] == 2 and obj["push"]["steps.done"] == 4
    assert obj["ts"].endswith("Z")
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert "run 12 finished: partial" in line and "exit_code=3" in line
    assert "evaluate=segments:2,members:8,joined:2,left:2" in line


def test_setup_logging_json_one_object_per_line() -> None:
    buf = io.StringIO()
    handler = setup_logging("json", stream=buf)
    try:
        logging.getLogger("bridge.x").info("hello %s", "world",
                                           extra={"fields": {"n": 3}})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bridge.x").exception("it broke")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(x) for x in lines)
    assert first["msg"] == "hello world" and first["n"] == 3
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]
    with pytest.raises(ValueError):
        setup_logging("xml")


def _daemon_proc(tmp_path: Path, fmt: str) -> subprocess.Popen[str]:
    config = tmp_path / "segbridge.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///store.db"\n'
        '[schedule]\nrun = "0 0 1 1 *"\nfull_resync = "0 0 1 1 *"\n'
        f'[log]\nformat = "{fmt}"\n'
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(config), "daemon"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_real_daemon_command_stops_on_a_signal(tmp_path: Path, sig: int) -> None:
    proc = _daemon_proc(tmp_path, "json")
    try:
        lines = []
        while True:  # every line is one JSON object; the start line says when it runs next
            line = proc.stderr.readline()  # type: ignore[union-attr]
            assert line, f"the daemon ended before it started: {lines}"
            lines.append(json.loads(line))
            if lines[-1].get("event") == "daemon_started":
                break
        started = lines[-1]
        assert started["next_run"].startswith(f"{datetime.now(UTC).year + 1}-01-01T00:00")
        proc.send_signal(sig)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = proc.stderr.read()  # type: ignore[union-attr]
    assert code == 0, rest
    events = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert events[-1].get("event") == "daemon_stopped", events
    assert all(isinstance(e, dict) for e in events)  # every line one JSON object


def test_a_stop_before_the_loop_starts_returns_at_once(tmp_path: Path) -> None:
    daemon = Daemon(_config(f"sqlite:///{tmp_path / 's.db'}"), check_journal=False,
                    runner=lambda config, full: pytest.fail("nothing may run"))
    shutdown.request_stop("early")
    t, out = _serve_in_thread(daemon)
    t.join(10)
    assert not t.is_alive() and out["code"] == 0


# --- the real pipeline against the sandbox --------------------------------------------------

CUSTOMER_PUT = ("PUT", "/V1/customers/{customerId}")

DAEMON_SCRIPT = r"""
import sys
from datetime import UTC, datetime, timedelta
from apscheduler.triggers.date import DateTrigger
from bridge.config import load_config
from bridge.logging_setup import setup_logging
from bridge.scheduler import Daemon
config = load_config(sys.argv[1])
setup_logging(config.log.format)
now = datetime.now(UTC)
# cron fires once a minute at best: the test fires the run job once, half a second from
# now ("soon"), or not at all ("never": only an unfinished journal makes it run)
first = timedelta(seconds=0.5) if sys.argv[2] == "soon" else timedelta(days=1)
triggers = {"run": DateTrigger(now + first),
            "full_resync": DateTrigger(now + timedelta(days=1))}
sys.exit(Daemon(config, triggers=triggers).serve())
"""


def _write_config(tmp_path: Path, base_url: str, db_url: str) -> Path:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    config = tmp_path / "segbridge.toml"
    config.write_text(
        f'[magento]\nbase_url = "{base_url}"\n'
        f'[store]\nurl = "{db_url}"\n'
        '[log]\nformat = "json"\n'
    )
    return config


def _env(token: str) -> dict[str, str]:
    return {**os.environ, "MAGENTO_TOKEN": token, "PYTHONUNBUFFERED": "1"}


def _start_daemon(config: Path, token: str, first_run: str) -> subprocess.Popen[str]:
    """The daemon in its own process; its log goes to a file (a pipe nobody reads could
    fill up and block it)."""
    with (config.parent / f"daemon-{first_run}.log").open("w") as log:
        return subprocess.Popen([sys.executable, "-c", DAEMON_SCRIPT, str(config), first_run],
                                cwd=ROOT, env=_env(token), stdout=subprocess.DEVNULL,
                                stderr=log, text=True)


def _daemon_log(config: Path, first_run: str) -> str:
    return (config.parent / f"daemon-{first_run}.log").read_text()


def _customer_steps(db_url: str) -> Counter[str]:
    from sqlalchemy import func, select

    from bridge.store.engine import make_engine
    from bridge.store.push_tables import PushStep

    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                select(PushStep.state, func.count()).where(PushStep.kind == "customer")
                .group_by(PushStep.state)
            ).all()
    finally:
        eng.dispose()
    return Counter({state: int(n) for state, n in rows})


@pytest.mark.db
@pytest.mark.slow
def test_sigterm_during_a_push_stops_after_the_write_in_flight(
    db_url: str, tmp_path: Path
) -> None:
    """The daemon's run is pushing group changes one customer at a time when SIGTERM
    comes: it stops after the write in flight, exits 0, and the next ``segbridge run``
    finishes the journal — every customer written exactly once."""
    from bridge.sandbox.server import Faults, SandboxServer

    # module=False: customers are moved one PUT at a time (a store without the module)
    with SandboxServer(customers=300, seed=1, module=False) as sandbox:
        config = _write_config(tmp_path, sandbox.base_url, db_url)
        # slow every answer a little so the push is still running when the signal comes
        sandbox.set_faults(Faults(latency_s=0.03))
        proc = _start_daemon(config, sandbox.token, "soon")
        try:
            deadline = time.monotonic() + 60
            while sandbox.stats.get(*CUSTOMER_PUT) < 5:
                assert proc.poll() is None, _daemon_log(config, "soon")
                assert time.monotonic() < deadline, "the push never started"
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
        log_lines = [json.loads(x) for x in _daemon_log(config, "soon").splitlines()
                     if x.startswith("{")]
        assert code == 0, log_lines
        puts_at_stop = sandbox.stats.get(*CUSTOMER_PUT)
        steps = _customer_steps(db_url)
        planned = sum(steps.values())
        # stopped early, and every write Magento received is recorded as done
        assert puts_at_stop < planned, (puts_at_stop, steps)
        assert steps["done"] == puts_at_stop, steps
        assert steps["pending"] == planned - puts_at_stop, steps
        assert any(e.get("event") == "daemon_stopped" for e in log_lines)
        summary = [e for e in log_lines if e.get("event") == "run_summary"]
        assert len(summary) == 1, log_lines

        # The next start finishes the journal at once (no cron firing needed).
        sandbox.set_faults(Faults())
        proc = _start_daemon(config, sandbox.token, "never")
        try:
            deadline = time.monotonic() + 60
            while _customer_steps(db_url)["pending"]:
                assert proc.poll() is None, _daemon_log(config, "never")
                assert time.monotonic() < deadline, "the restarted daemon left the journal"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, _daemon_log(config, "never")
        finally:
            if proc.poll() is None:
                proc.kill()
        steps = _customer_steps(db_url)
        assert steps["done"] == planned and not steps["pending"], steps
        restart = [json.loads(x) for x in _daemon_log(config, "never").splitlines()
                   if x.startswith("{")]
        assert any(e.get("event") == "journal_resume" for e in restart), restart
        # each planned customer written once: no write repeated after the restart
        assert sandbox.stats.get(*CUSTOMER_PUT) == planned
        # and a plain `segbridge run` afterwards finds nothing left to write
        done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "run"],
                              cwd=ROOT, env=_env(sandbox.token), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert sandbox.stats.get(*CUSTOMER_PUT) == planned


@pytest.mark.db
@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True])
def test_two_real_runs_started_together(db_url: str, tmp_path: Path, wait: bool) -> None:
    """Two ``segbridge run`` at once: one exits 4 (or, with --wait, runs after the other),
    and nothing is written twice."""
    from sqlalchemy import select

    from bridge.sandbox.server import SandboxServer
    from bridge.store.engine import make_engine, open_store
    from bridge.store.models import Run

    with SandboxServer(customers=200, seed=2, latency_s=0.01, module=False) as sandbox:
        config = _write_config(tmp_path, sandbox.base_url, db_url)
        open_store(db_url).dispose()  # schema first: the race under test is the lock's
        flags = ["--wait"] if wait else []
        procs = [
            subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(config), *flags,
                              "run"], cwd=ROOT, env=_env(sandbox.token),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = [(p.wait(120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
        codes = sorted(code for code, _ in results)
        eng = make_engine(db_url)
        try:
            with eng.connect() as conn:
                runs = conn.execute(select(Run.kind, Run.status)).all()
        finally:
            eng.dispose()
        steps = _customer_steps(db_url)
        puts = sandbox.stats.get(*CUSTOMER_PUT)
    if wait:
        assert codes == [0, 0], results
        assert [r.status for r in runs] == ["ok", "ok"], runs
    else:
        assert codes == [0, 4], results
        loser = next(err for code, err in results if code == 4)
        assert "segbridge run" in loser and "pid" in loser
        assert [r.status for r in runs] == ["ok"], runs
    assert steps["done"] > 0 and puts == steps["done"] == sum(steps.values())


@pytest.mark.db
def test_an_unfinished_journal_is_finished_right_after_start(engine: Engine,
                                                             db_url: str) -> None:
    """A push interrupted by the last stop left an open batch: the daemon does not wait
    for the next cron firing to finish it."""
    from bridge.store.push_tables import PushBatch
    from bridge.timeutil import utcnow

    with engine.begin() as conn:
        conn.execute(PushBatch.__table__.insert().values(created_at=utcnow(), status="open"))
    rec = Recorder(engine, hold_s=0.0)
    far = datetime.now(UTC) + timedelta(days=1)
    daemon = Daemon(_config(db_url), runner=rec,
                    triggers={JOB_RUN: DateTrigger(far), JOB_RESYNC: DateTrigger(far)})
    t, _ = _serve_in_thread(daemon)
    deadline = time.monotonic() + 10
    while not rec.spans and time.monotonic() < deadline:
        time.sleep(0.05)
    shutdown.request_stop()
    t.join(10)
    assert [job for job, _, _ in rec.spans] == [JOB_RUN]


# --- run_once stops between its stages ---------------------------------------------------


def _runs(engine: Engine) -> list[tuple[str, str, str | None]]:
    from sqlalchemy import select

    from bridge.store.models import Run

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(Run.kind, Run.status, Run.message).order_by(Run.id)).all()]


@pytest.mark.db
def test_a_stop_during_the_sync_ends_the_run_between_entities(
    tmp_path: Path, db_url: str
) -> None:
    """The stop flag reaches ``run_sync`` (``should_stop``): asked after the structure
    and before the first entity, the sync reads no customers, nothing is evaluated or
    pushed, and the run is recorded as ``stopped``, not ``ok`` or ``failed``."""
    from test_push_kit import Scenario

    from bridge.pipeline import run_once

    sc = Scenario(tmp_path / "s", db_url, customers=20)
    try:
        shutdown.request_stop("by the test")
        with sc.client() as client:
            result = run_once(sc.config, client=client, engine=sc.engine)
        assert result.status == "stopped" and result.exit_code == 0
        assert result.evaluation is None and result.push is None
        assert sc.sandbox.stats.get("GET", "/V1/customers/search") == 0
        assert sc.writes() == 0
        assert [(k, s) for k, s, _ in _runs(sc.engine)] == [("run", "stopped")]
        assert "sync stopped before customers" in (_runs(sc.engine)[0][2] or "")
        assert run_summary(JOB_RUN, result, 1.0)["status"] == "stopped"
    finally:
        sc.close()


@pytest.mark.db
def test_a_stop_after_the_evaluation_skips_the_push(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_push_kit import Scenario

    import bridge.pipeline as command

    evaluate = command._evaluate
    calls: list[int] = []

    def evaluate_then_stop(*args: Any, **kw: Any) -> Any:
        out = evaluate(*args, **kw)
        calls.append(1)
        if len(calls) == 1:  # the first run only
            shutdown.request_stop("by the test, after the evaluation")
        return out

    monkeypatch.setattr(command, "_evaluate", evaluate_then_stop)
    sc = Scenario(tmp_path / "s", db_url, customers=40)
    try:
        with sc.client() as client:
            result = command.run_once(sc.config, client=client, engine=sc.engine)
        assert result.status == "stopped" and result.evaluation is not None
        assert result.push is None and sc.writes() == 0
        assert set(result.counts) == {"sync", "evaluate"}
        (kind, status, message), = _runs(sc.engine)
        assert (kind, status) == ("run", "stopped") and "after the evaluation" in (message or "")

        # the next run, with no stop, pushes and is ok
        shutdown.reset()
        with sc.client() as client:
            again = command.run_once(sc.config, client=client, engine=sc.engine)
        assert again.status == "ok" and again.push is not None and sc.writes() > 0
        assert [s for _, s, _ in _runs(sc.engine)] == ["stopped", "ok"]
    finally:
        sc.close()


class _Forwarder:
    """A TCP port that refuses connections until ``open()``, then forwards each one to
    ``target`` (a database server that goes away and comes back, as the daemon sees it)."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens: connections are refused
        self.server: Any = None

    def open(self) -> None:
        import socket

        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.db
def test_a_store_that_cannot_be_reached_is_one_line_and_the_next_firing_tries_again(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real run against the sandbox, with the store down for the first firings: each
    is one ERROR line naming the store and the cause (no traceback), and once the store
    is back the next firing completes."""
    from sqlalchemy.engine import make_url

    from bridge.sandbox.server import SandboxServer

    forwarder: _Forwarder | None = None
    if db_url.startswith("sqlite"):
        folder = tmp_path / "not-yet"
        url = f"sqlite:///{folder / 'store.db'}"
        shown = "not-yet"

        def bring_back() -> None:
            folder.mkdir()
    else:
        real = make_url(db_url)
        forwarder = _Forwarder((real.host or "127.0.0.1", int(real.port or 0)))
        url = real.set(port=forwarder.port).render_as_string(hide_password=False)
        shown = f"127.0.0.1:{forwarder.port}"
        bring_back = forwarder.open
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "buyers.toml").write_text(
        'code = "buyers"\nname = "Buyers"\npriority = 10\n[conditions]\nmatch = "all"\n'
        'value = true\n[[conditions.rules]]\nattribute = "sales.orders_count"\n'
        'operator = ">="\nvalue = 1\n[group]\ncode = "Buyers"\n')
    try:
        with SandboxServer(customers=60, seed=7) as sandbox:
            monkeypatch.setenv("MAGENTO_TOKEN", sandbox.token)
            config = parse_config({"magento": {"base_url": sandbox.base_url},
                                   "store": {"url": url}, "mappings": {"dir": str(mappings)}},
                                  None)
            daemon = Daemon(config, check_journal=False, triggers={
                JOB_RUN: IntervalTrigger(seconds=0.3),
                JOB_RESYNC: DateTrigger(datetime.now(UTC) + timedelta(days=1))})
            with caplog.at_level(logging.INFO, logger="bridge.scheduler"):
                t, out = _serve_in_thread(daemon)

                def failures() -> list[logging.LogRecord]:
                    return [r for r in caplog.records
                            if r.name == "bridge.scheduler" and r.levelno == logging.ERROR]

                deadline = time.monotonic() + 30
                while len(failures()) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                bring_back()
                while not daemon.summaries and time.monotonic() < deadline + 30:
                    time.sleep(0.05)
                shutdown.request_stop("by the test")
                t.join(60)
        assert not t.is_alive() and out["code"] == 0
        failed = failures()
        assert len(failed) >= 2, caplog.text
        for record in failed:
            line = record.getMessage()
            assert record.exc_info is None and "\n" not in line, line
            assert line.startswith("run failed: the store ") and shown in line, line
            assert "(store.url) failed: " in line and line.endswith(
                "; trying again at the next scheduled run"), line
        assert daemon.summaries and daemon.summaries[0]["status"] == "ok", daemon.summaries
    finally:
        if forwarder is not None:
            forwarder.close()
