"""Memberships with history, the segment commands, and the same answer on every database."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
import tomllib
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from bridge.cli import main
from bridge.config import Config
from bridge.segments.evaluate import compute_memberships, evaluate
from bridge.segments.loader import segments_from_dicts
from bridge.segments.reference import Reference, load_customer
from bridge.segments.testing import insert_rows, random_shop, write_shop
from bridge.store import models as m
from bridge.store.engine import open_store
from bridge.store.segment_tables import Evaluation, SegmentHistory, SegmentMember, SegmentRecord

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 3, 15, 12, 0, 0)
CFG = Config()


def _base(conn: object) -> None:
    insert_rows(conn, m.Website, [dict(id=1, code="base", name="Main"), dict(id=2, code="nordic")])  # type: ignore[arg-type]
    insert_rows(conn, m.CustomerGroup, [dict(id=1, code="General")])  # type: ignore[arg-type]


def _customer(cid: int, **kw: object) -> dict[str, object]:
    row: dict[str, object] = dict(id=cid, website_id=1, group_id=1, email=f"c{cid}@example.com")
    row.update(kw)
    return row


def _members(engine: Engine, code: str) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(SegmentMember.customer_id).where(SegmentMember.segment_code == code)
            ).scalars()
        )


SPENDERS = {
    "code": "spenders",
    "conditions": {
        "rules": [{"attribute": "sales.amount", "operator": ">=", "value": 100, "period": "30d"}]
    },
}
NEW = {
    "code": "new",
    "conditions": {
        "rules": [{"attribute": "customer.days_since_created", "operator": "<", "value": 7}]
    },
}


def test_joins_and_leaves_are_recorded(engine: Engine) -> None:
    with engine.begin() as conn:
        _base(conn)
        insert_rows(
            conn,
            m.Customer,
            [
                _customer(1, created_at=AS_OF - timedelta(days=1)),
                _customer(2, created_at=AS_OF - timedelta(days=100)),
                _customer(3, created_at=AS_OF - timedelta(days=6, hours=23)),
            ],
        )
        insert_rows(
            conn,
            m.Order,
            [
                dict(
                    id=1,
                    customer_id=2,
                    website_id=1,
                    status="complete",
                    created_at=AS_OF - timedelta(days=2),
                    base_grand_total=Decimal(150),
                ),
            ],
        )
    segs = segments_from_dicts([SPENDERS, NEW], CFG)
    r1 = evaluate(engine, segs, AS_OF, run_id=7, config=CFG)
    assert {c: (r.members, r.joined, r.left) for c, r in r1.items()} == {
        "spenders": (1, 1, 0),
        "new": (2, 2, 0),
    }
    assert _members(engine, "new") == {1, 3}
    # the same again: nothing changes, nothing is written to the history
    r2 = evaluate(engine, segs, AS_OF, config=CFG)
    assert {c: (r.joined, r.left) for c, r in r2.items()} == {"spenders": (0, 0), "new": (0, 0)}
    # a day later customer 3 is 7 days old; a new order makes customer 1 a spender
    with engine.begin() as conn:
        insert_rows(
            conn,
            m.Order,
            [
                dict(
                    id=2,
                    customer_id=1,
                    website_id=1,
                    status="processing",
                    created_at=AS_OF,
                    base_grand_total=Decimal("100.00"),
                )
            ],
        )
    later = AS_OF + timedelta(days=1)
    r3 = evaluate(engine, segs, later, run_id=9, config=CFG)
    assert (r3["new"].members, r3["new"].joined, r3["new"].left) == (1, 0, 1)
    assert (r3["spenders"].members, r3["spenders"].joined, r3["spenders"].left) == (2, 1, 0)
    with engine.connect() as conn:
        hist = conn.execute(
            select(
                SegmentHistory.segment_code,
                SegmentHistory.customer_id,
                SegmentHistory.event,
                SegmentHistory.at,
                SegmentHistory.run_id,
            ).order_by(SegmentHistory.id)
        ).all()
        joined_at = conn.execute(
            select(SegmentMember.joined_at).where(
                SegmentMember.segment_code == "spenders", SegmentMember.customer_id == 1
            )
        ).scalar_one()
        evals = conn.execute(
            select(Evaluation.as_of, Evaluation.run_id, Evaluation.finished_at)
        ).all()
        rec = conn.execute(select(SegmentRecord).where(SegmentRecord.code == "new")).one()
    assert ("new", 3, "left", later, 9) in hist
    assert ("spenders", 1, "joined", later, 9) in hist
    assert ("new", 1, "joined", AS_OF, 7) in hist
    assert len(hist) == 5
    assert joined_at == later
    assert len(evals) == 3 and all(e.finished_at is not None for e in evals)
    assert rec.members == 1 and rec.last_changed_at == later and rec.last_as_of == later


def _one_new_customer(engine: Engine) -> list[Any]:
    """A store with customer 1 created at AS_OF, evaluated once: 1 is in "new"."""
    with engine.begin() as conn:
        _base(conn)
        insert_rows(conn, m.Customer, [_customer(1, created_at=AS_OF)])
    segs = segments_from_dicts([SPENDERS, NEW], CFG)
    evaluate(engine, segs, AS_OF, config=CFG)
    assert _members(engine, "new") == {1}
    return segs


def test_removed_or_inactive_segment_members_leave(engine: Engine) -> None:
    _one_new_customer(engine)
    only_spenders = segments_from_dicts([SPENDERS], CFG)
    # evaluating named segments leaves the others alone
    evaluate(engine, only_spenders, AS_OF, config=CFG, only=["spenders"])
    assert _members(engine, "new") == {1}
    res = evaluate(engine, only_spenders, AS_OF, config=CFG)
    assert (res["new"].members, res["new"].left) == (0, 1)
    assert _members(engine, "new") == set()
    with engine.connect() as conn:
        rec = conn.execute(select(SegmentRecord).where(SegmentRecord.code == "new")).one()
    assert rec.active is False and rec.members == 0


def test_deleted_customers_are_never_members(engine: Engine) -> None:
    with engine.begin() as conn:
        _base(conn)
        insert_rows(
            conn, m.Customer, [_customer(1, created_at=AS_OF), _customer(2, created_at=AS_OF)]
        )
    segs = segments_from_dicts([NEW], CFG)
    evaluate(engine, segs, AS_OF, config=CFG)
    with engine.begin() as conn:
        conn.execute(update(m.Customer.__table__).where(m.Customer.id == 2).values(deleted=True))
    res = evaluate(engine, segs, AS_OF, config=CFG)
    assert (res["new"].members, res["new"].left) == (1, 1)


def _digest(found: dict[str, set[int]]) -> str:
    text = ";".join(
        f"{code}:{','.join(map(str, sorted(ids)))}" for code, ids in sorted(found.items())
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "mode", ["default", "worker-processes", "worker-threads", "one-connection"]
)
def test_same_memberships_on_every_database(
    engine: Engine, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same data + definitions + as-of ⇒ the same memberships on every database
    (and on SQLite, however the work is spread over connections and processes)."""
    import bridge.segments.evaluate as evaluate_module

    built: list[int] = []
    if mode == "worker-threads":  # where no process can be started: threads do the tasks

        def no_processes(*args: Any, **kwargs: Any) -> None:
            raise OSError("no processes here")

        monkeypatch.setattr(evaluate_module, "ProcessPoolExecutor", no_processes)
    if mode in ("worker-processes", "worker-threads"):  # as on a big store
        monkeypatch.setattr(evaluate_module, "SPLIT_MIN_CUSTOMERS", 0)
        build = evaluate_module.ParallelSide.build

        def counting_build(self: Any, *args: Any) -> None:
            built.append(1)
            build(self, *args)

        monkeypatch.setattr(evaluate_module.ParallelSide, "build", counting_build)
    elif mode == "one-connection":
        monkeypatch.setenv("SEGBRIDGE_EVAL_PARALLEL", "0")
    shop = random_shop(random.Random(20260315), AS_OF, customers=150)
    with engine.begin() as conn:
        write_shop(conn, shop)
    files = [
        tomllib.loads(p.read_text(encoding="utf-8"))
        for p in sorted((REPO / "mappings").glob("*.toml"))
    ]
    segments = segments_from_dicts(
        [
            *files,
            {
                "code": "mixed",
                "conditions": {
                    "match": "any",
                    "value": False,
                    "rules": [
                        {"attribute": "customer.firstname", "operator": "{}", "value": "STRASSE"},
                        {
                            "attribute": "sales.amount",
                            "aggregate": "average",
                            "operator": "between",
                            "value": [50, 500.5],
                            "period": "90d",
                            "status": ["complete", "processing"],
                        },
                        {
                            "attribute": "product.ordered",
                            "operator": "==",
                            "value": True,
                            "sku": ["SKU-1"],
                        },
                        {"attribute": "segment", "operator": "!()", "value": ["vip"]},
                    ],
                },
            },
        ],
        CFG,
        REPO / "mappings",
    )
    by_code = {s.code: s for s in segments}
    with engine.connect() as conn:
        found = compute_memberships(conn, segments, AS_OF, CFG)
        for c in shop["customers"]:
            data = load_customer(conn, c["id"], CFG)
            assert data is not None
            ref = Reference(data, by_code, AS_OF)
            for seg in segments:
                assert (c["id"] in found[seg.code]) == ref.segment(seg).result, (seg.code, c["id"])
    assert sum(len(v) for v in found.values()) > 50  # the shop exercises the segments
    assert _digest(found) == GOLDEN
    if mode.startswith("worker-") and engine.dialect.name == "sqlite":
        assert built, "the workers were not used"


def test_a_failing_worker_task_records_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that fails in a worker process fails the evaluation with the database's
    error, and the memberships and their history stay as they were."""
    import sqlite3

    import bridge.segments.evaluate as evaluate_module

    if engine.dialect.name != "sqlite":
        pytest.skip("worker processes serve SQLite only")
    monkeypatch.setattr(evaluate_module, "SPLIT_MIN_CUSTOMERS", 0)
    segs = _one_new_customer(engine)
    sql_text = evaluate_module._sql_text

    def broken(conn: Any, stmt: Any) -> str:
        text = sql_text(conn, stmt)
        return text.replace("FROM customers", "FROM no_such_table") if "wide" in text else text

    monkeypatch.setattr(evaluate_module, "_sql_text", broken)
    later = AS_OF + timedelta(days=30)  # "new" would lose customer 1
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        evaluate(engine, segs, later, config=CFG)
    assert _members(engine, "new") == {1}
    with engine.connect() as conn:
        assert len(conn.execute(select(Evaluation)).all()) == 1
        assert len(conn.execute(select(SegmentHistory)).all()) == 1


KILLED_EVALUATION = """
import os, signal, sys
from datetime import datetime
import bridge.segments.evaluate as ev
from bridge.config import Config
from bridge.segments.loader import segments_from_dicts
from bridge.store.engine import make_engine
ev.SPLIT_MIN_CUSTOMERS = 0
def killed(self, *args):  # the scratch files exist now: killed outright, as by SIGKILL
    os.kill(os.getpid(), signal.SIGKILL)
ev.ParallelSide.build = killed
segments = segments_from_dicts([{"code": "all", "conditions": {"rules": [
    {"attribute": "customer.days_since_created", "operator": ">=", "value": 0}]}}], Config())
ev.evaluate(make_engine(sys.argv[1]), segments, datetime(2026, 4, 1), config=Config())
"""


def test_the_scratch_files_of_a_killed_evaluation_are_deleted_by_the_next(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluation killed outright leaves its scratch files (on a big store, hundreds of
    MB in the temporary directory); the next evaluation deletes them, and leaves alone
    the files of an evaluation whose process still runs."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    import bridge.segments.evaluate as evaluate_module

    if engine.dialect.name != "sqlite":
        pytest.skip("scratch files serve SQLite only")
    segs = _one_new_customer(engine)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_EVALUATION, str(engine.url)],
        env={**os.environ, "TMPDIR": str(scratch)}, stderr=subprocess.PIPE, text=True,
    )
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, err
    left = sorted(p.name for p in scratch.iterdir())
    assert len(left) == len(evaluate_module.ParallelSide.FILES), left
    assert all(name.startswith(f"segbridge-eval-{killed.pid}-") for name in left), left
    running = scratch / f"segbridge-eval-{os.getpid()}-low-abc123.db"  # a live process's
    running.write_bytes(b"")
    unrelated = scratch / "segbridge-eval-notes.txt"
    unrelated.write_text("not a scratch file")

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(evaluate_module, "SPLIT_MIN_CUSTOMERS", 0)
    evaluate(engine, segs, AS_OF, config=CFG)
    assert sorted(p.name for p in scratch.iterdir()) == sorted([running.name, unrelated.name])
    assert _members(engine, "new") == {1}


# The memberships of the fixed generated shop above under mappings/*.toml + "mixed", as
# computed when this test was written: every database must produce exactly this digest
# (besides agreeing with the reference). Editing mappings/ or the generator changes it.
GOLDEN = "39792781cb898c0c"


# --- commands ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path) -> tuple[Path, Engine]:
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    cfg = tmp_path / "segbridge.toml"
    cfg.write_text(f'[store]\nurl = "{db_url}"\n', encoding="utf-8")
    engine = open_store(db_url)
    with engine.begin() as conn:
        _base(conn)
        insert_rows(
            conn,
            m.Customer,
            [
                _customer(1, email="Ann@Example.se", created_at=AS_OF - timedelta(days=3)),
                _customer(
                    2, email="ann@example.se", website_id=2, created_at=AS_OF - timedelta(days=300)
                ),
                _customer(3, email="big@spender.com", created_at=AS_OF - timedelta(days=400)),
            ],
        )
        insert_rows(conn, m.CustomerAddress, [dict(id=1, customer_id=2, country_id="NO")])
        insert_rows(
            conn,
            m.Order,
            [
                dict(
                    id=1,
                    customer_id=3,
                    website_id=1,
                    status="complete",
                    created_at=AS_OF - timedelta(days=20),
                    base_grand_total=Decimal("1200.00"),
                ),
                dict(
                    id=2,
                    customer_id=3,
                    website_id=1,
                    status="pending",
                    created_at=AS_OF - timedelta(days=10),
                    base_grand_total=Decimal("99.00"),
                ),
            ],
        )
    return cfg, engine


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_evaluate_members_history_segments_commands(
    cli_env: tuple[Path, Engine], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg, engine = cli_env
    c = str(cfg)
    code, out, err = run_cli(
        capsys, "--config", c, "--json", "evaluate", "--as-of", "2026-03-15T12:00:00Z"
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["vip"] == {"members": 1, "joined": 1, "left": 0}
    assert res["new_customers"] == {"members": 1, "joined": 1, "left": 0}
    assert res["nordic"]["members"] == 1
    with engine.connect() as conn:
        run = conn.execute(select(m.Run).where(m.Run.kind == "evaluate")).one()
        assert run.status == "ok" and run.counts["vip"]["members"] == 1
        run_id = run.id
    code, out, _ = run_cli(capsys, "--config", c, "--json", "members", "vip")
    assert code == 0
    assert json.loads(out) == [
        {
            "customer_id": 3,
            "email": "big@spender.com",
            "website": "base",
            "joined_at": "2026-03-15 12:00:00",
            "holdout": False,
        }
    ]
    target = tmp_path / "nordic.csv"
    code, _, _ = run_cli(
        capsys, "--config", c, "members", "nordic", "--format", "csv", "--output", str(target)
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows == [
        {
            "customer_id": "2",
            "email": "ann@example.se",
            "website": "nordic",
            "joined_at": "2026-03-15 12:00:00",
            "holdout": "false",
        }
    ]
    code, out, _ = run_cli(capsys, "--config", c, "members", "vip")
    assert "big@spender.com" in out and out.splitlines()[0].startswith("customer_id")
    # 40 days later customer 1 is no longer new
    code, out, _ = run_cli(
        capsys, "--config", c, "--json", "evaluate", "--as-of", "2026-04-24", "new_customers"
    )
    assert json.loads(out) == {"new_customers": {"members": 0, "joined": 0, "left": 1}}
    code, out, _ = run_cli(capsys, "--config", c, "--json", "history", "new_customers")
    hist = json.loads(out)
    assert [(h["event"], h["customer_id"], h["at"]) for h in hist] == [
        ("joined", 1, "2026-03-15 12:00:00"),
        ("left", 1, "2026-04-24 00:00:00"),
    ]
    assert hist[0]["run_id"] == run_id
    code, out, _ = run_cli(
        capsys, "--config", c, "--json", "history", "new_customers", "--since", "2026-04-01"
    )
    assert [h["event"] for h in json.loads(out)] == ["left"]
    code, out, _ = run_cli(capsys, "--config", c, "--json", "segments")
    listed = {s["code"]: s for s in json.loads(out)}
    assert listed["vip"]["members"] == 1 and listed["vip"]["group"] == "VIP"
    assert listed["new_customers"]["last_change"] is not None
    code, out, _ = run_cli(capsys, "--config", c, "segments")
    assert code == 0 and "vip" in out
    code, _, err = run_cli(capsys, "--config", c, "evaluate", "nosuch")
    assert code == 2 and "nosuch" in err
    code, _, err = run_cli(capsys, "--config", c, "members", "nosuch")
    assert code == 2


def test_explain(cli_env: tuple[Path, Engine], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _engine = cli_env
    c = str(cfg)
    code, out, err = run_cli(
        capsys, "--config", c, "explain", "vip", "3", "--as-of", "2026-03-15T12:00:00"
    )
    assert code == 0, err
    assert "✓ sales.amount (total) >= 1000" in out
    assert "actual: 1200.00 over 1 orders" in out  # the pending order is not counted
    assert "IS a member" in out
    code, out, _ = run_cli(
        capsys,
        "--config",
        c,
        "--json",
        "explain",
        "nordic",
        "big@spender.com",
        "--as-of",
        "2026-03-15",
    )
    doc = json.loads(out)
    assert doc["member"] is False and doc["customer_id"] == 3
    assert doc["tree"]["holds"] is False
    assert [r["holds"] for r in doc["tree"]["rules"]] == [False, False]
    assert doc["tree"]["rules"][1]["actual"] == '"base"'
    code, out, _ = run_cli(
        capsys, "--config", c, "--json", "explain", "vip", "1", "--as-of", "2026-03-15"
    )
    doc = json.loads(out)
    assert doc["decided_by"]["condition"].startswith("sales.amount (total) >= 1000")
    assert doc["decided_by"]["holds"] is False
    # an email that two websites share: both ids, exit 2
    code, out, err = run_cli(capsys, "--config", c, "explain", "vip", "ANN@example.SE")
    assert code == 2
    assert "customer 1" in err and "customer 2" in err
    code, _, err = run_cli(capsys, "--config", c, "explain", "vip", "nobody@x")
    assert code == 2


def test_a_hand_move_into_a_non_managed_group_counts_in_the_same_run(engine: Engine) -> None:
    """Issue 18 item 7: a customer moved by hand from a managed group into Wholesale was
    still counted in their old home group by the run that synced the move (one run of
    lag). The home group is now the current group unless segbridge manages it (groups
    the push recorded, and groups active segments name), else the push's record."""
    from bridge.store.push_tables import PushCustomer, PushGroup

    groups = {1: "General", 2: "Wholesale", 3: "Retailer", 4: "VIP", 5: "Gold"}
    current = {1: 2, 2: 4, 3: 5, 4: 4, 5: 3, 6: 1}  # customer -> group as synced
    recorded_home = {1: 1, 2: 1, 3: 3, 6: 2}  # push_customers.home_group_id
    with engine.begin() as conn:
        insert_rows(conn, m.Website, [dict(id=1, code="base", name="Main")])
        insert_rows(conn, m.CustomerGroup, [dict(id=i, code=c) for i, c in groups.items()])
        insert_rows(conn, m.Customer, [_customer(c, group_id=g) for c, g in current.items()])
        insert_rows(conn, PushGroup, [dict(code_ci="vip", code="VIP", group_id=4, created=True,
                                           recorded_at=AS_OF)])
        insert_rows(conn, PushCustomer, [
            dict(customer_id=c, home_group_id=h, first_seen_at=AS_OF, written_group_id=4)
            for c, h in recorded_home.items()
        ])
    def by_group(code: str) -> dict[str, Any]:
        return {"code": code.casefold(), "conditions": {"rules": [
            {"attribute": "customer.group", "operator": "==", "value": code}]}}

    gold = {"code": "gold", "priority": 1, "group": {"code": "GOLD"}, "conditions": {
        "rules": [{"attribute": "sales.orders_count", "operator": ">=", "value": 100}]}}
    retired = {**gold, "code": "retired", "priority": 2, "active": False,
               "group": {"code": "Wholesale"}}  # inactive: Wholesale is not managed
    segments = segments_from_dicts(
        [by_group("Wholesale"), by_group("General"), by_group("Retailer"), gold, retired], CFG
    )
    results = evaluate(engine, segments, AS_OF, config=CFG)
    found = {code: _members(engine, code) for code in results}
    found.pop("retired", None)
    assert found == {
        "wholesale": {1},  # moved by hand out of VIP: Wholesale now, not General
        "general": {2, 6},  # in VIP (managed): the recorded home; 6: current beats stale
        "retailer": {3, 5},  # in Gold (named by an active segment): the recorded home
        "gold": set(),
    }
    by_code = {s.code: s for s in segments}
    with engine.connect() as conn:
        for cid in current:
            data = load_customer(conn, cid, CFG)
            assert data is not None
            ref = Reference(data, by_code, AS_OF)
            for seg in segments:
                if seg.active:
                    assert (cid in found[seg.code]) == ref.segment(seg).result, (seg.code, cid)
