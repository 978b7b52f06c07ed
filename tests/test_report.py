"""``segbridge report``: the numbers it draws, and that Chromium really draws the charts.

The screenshot test renders the page in headless Chromium (``.ci/chromium-setup``
installs Debian's package) and counts pixels of each chart's series colours in the PNG,
decoded here with zlib (no imaging library needed).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from bridge import report
from bridge.store.models import Customer, CustomerGroup, Run
from bridge.store.push_tables import PushBatch, PushStep
from bridge.store.segment_tables import Evaluation, SegmentHistory, SegmentMember, SegmentRecord

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 6, 0, 0)
GROUPS = {0: "NOT LOGGED IN", 1: "General", 2: "Wholesale", 3: "Retailer", 4: "VIP", 5: "Lapsed"}

# segment -> members added (+) / removed (-) at each of 8 evaluations
PLAN = {
    "vip": [(20, 0), (10, 0), (8, 2), (6, 3), (9, 1), (4, 4), (7, 0), (5, 2)],
    "lapsed": [(5, 0), (6, 1), (4, 0), (7, 2), (3, 0), (6, 1), (2, 3), (8, 0)],
    "cart_abandoners": [(12, 0), (3, 6), (9, 4), (2, 5), (8, 2), (5, 6), (6, 3), (4, 1)],
}
N_CUSTOMERS = 400


def seed(engine: Engine) -> dict[str, int]:
    """A store after 8 runs: runs, evaluations, history, members, one push batch."""
    with Session(engine) as s, s.begin():
        s.execute(insert(CustomerGroup), [
            {"id": gid, "code": code, "code_ci": code.casefold(), "tax_class_id": 3}
            for gid, code in GROUPS.items()
        ])
        rows = []
        for cid in range(1, N_CUSTOMERS + 1):
            # now: 1..60 in VIP (moved by the last push), 61..100 Lapsed (moved), others home
            group = 4 if cid <= 60 else 5 if cid <= 100 else (2 if cid % 5 == 0 else 1)
            email = f"c{cid}@example.com"
            rows.append({"id": cid, "website_id": 1, "group_id": group, "email": email,
                         "email_ci": email, "deleted": cid > N_CUSTOMERS - 3})
        s.execute(insert(Customer), rows)
        statuses = ["ok", "ok", "partial", "ok", "failed", "ok", "ok", "ok"]
        for i in range(8):
            at = T0 + timedelta(hours=i)
            s.add(Run(id=i + 1, kind="run" if i != 4 else "resync", started_at=at,
                      ended_at=at + timedelta(seconds=40 + i), status=statuses[i],
                      counts={"sync": {"customers": 10 * i}, "push": {"customers": i}},
                      requests=100 + i, retries=i % 2, errors=1 if statuses[i] != "ok" else 0,
                      message="Magento answered 503 three times" if statuses[i] == "failed"
                      else None))
            s.add(Evaluation(id=i + 1, run_id=i + 1, as_of=at, started_at=at, finished_at=at))
        hid = 0
        sizes: dict[str, int] = {}
        for code, steps in PLAN.items():
            members: list[int] = []
            next_cid = 1 if code == "vip" else 150 if code == "lapsed" else 250
            for i, (joins, leaves) in enumerate(steps):
                at = T0 + timedelta(hours=i)
                for cid in members[:leaves]:
                    hid += 1
                    s.add(SegmentHistory(id=hid, segment_code=code, customer_id=cid, event="left",
                                         at=at, run_id=i + 1, evaluation_id=i + 1))
                members = members[leaves:]
                for _ in range(joins):
                    hid += 1
                    s.add(SegmentHistory(id=hid, segment_code=code, customer_id=next_cid,
                                         event="joined", at=at, run_id=i + 1,
                                         evaluation_id=i + 1))
                    members.append(next_cid)
                    next_cid += 1
            sizes[code] = len(members)
            for cid in members:
                s.add(SegmentMember(segment_code=code, customer_id=cid, joined_at=T0, run_id=8))
            s.add(SegmentRecord(code=code, name=code.replace("_", " ").title(), active=True,
                                priority=0, group_code={"vip": "VIP", "lapsed": "Lapsed"}.get(code),
                                definition_hash="x" * 64, first_seen_at=T0, defined_at=T0,
                                last_changed_at=T0 + timedelta(hours=7), members=len(members)))
        batch = PushBatch(id=1, run_id=8, created_at=T0 + timedelta(hours=7), status="done",
                          counts={"customer": 105})
        s.add(batch)
        s.flush()
        steps_rows = []
        for cid in range(1, 101):
            to = {"to_id": 4, "to_code": "VIP"} if cid <= 60 else {"to_id": None,
                                                                     "to_code": "lapsed"}
            steps_rows.append({"batch_id": 1, "seq": cid, "kind": "customer", "key": str(cid),
                               "customer_id": cid, "payload": {"from": 1, **to},
                               "state": "done"})
        for cid in range(101, 106):  # refused writes do not count as moves
            steps_rows.append({"batch_id": 1, "seq": cid, "kind": "customer", "key": str(cid),
                               "customer_id": cid, "payload": {"from": 1, "to_id": 4},
                               "state": "refused"})
        s.execute(insert(PushStep), steps_rows)
    return sizes


@pytest.mark.db
def test_collect_rebuilds_sizes_churn_and_groups(engine: Engine) -> None:
    sizes = seed(engine)
    data = report.collect(engine)
    assert {s.code: s.members for s in data.segments} == sizes
    # size lines: one point per evaluation, ending at today's count
    for code, steps in PLAN.items():
        pts = data.sizes[code]
        assert [w for w, _ in pts] == [T0 + timedelta(hours=i) for i in range(8)]
        expected, running = [], 0
        for joins, leaves in steps:
            running += joins - leaves
            expected.append(running)
        assert [n for _, n in pts] == expected
        assert pts[-1][1] == sizes[code]
    # joins/leaves per run, in run order
    assert [c.label for c in data.churn] == [f"run {i}" for i in range(1, 9)]
    assert data.churn[2].joined == 8 + 4 + 9 and data.churn[2].left == 2 + 0 + 4
    # groups: after = now (deleted customers left out); before = the last push undone
    by = {g.code: g for g in data.groups}
    live = range(1, N_CUSTOMERS - 2)
    general_now = sum(1 for c in live if c > 100 and c % 5 != 0)
    assert by["VIP"].after == 60 and by["VIP"].before == 0
    assert by["Lapsed"].after == 40 and by["Lapsed"].before == 0
    assert by["General"].after == general_now and by["General"].before == general_now + 100
    assert by["Wholesale"].before == by["Wholesale"].after
    assert data.last_push is not None and data.last_push["moved"] == 100
    assert data.customers == N_CUSTOMERS - 3
    assert [r["id"] for r in data.runs] == list(range(8, 0, -1))


@pytest.mark.db
def test_only_the_newest_evaluations_are_read_and_pruned_history_is_fine(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes are rebuilt backwards from today's counts over a window of evaluations."""
    from sqlalchemy import delete

    sizes = seed(engine)
    with engine.begin() as conn:  # the oldest history was pruned away
        conn.execute(delete(SegmentHistory).where(SegmentHistory.evaluation_id <= 2))
    monkeypatch.setattr(report, "MAX_SIZE_POINTS", 3)
    monkeypatch.setattr(report, "MAX_CHURN_RUNS", 3)
    data = report.collect(engine)
    for code, steps in PLAN.items():
        running, expected = 0, []
        for joins, leaves in steps:
            running += joins - leaves
            expected.append(running)
        assert data.sizes[code] == [(T0 + timedelta(hours=i), expected[i]) for i in (5, 6, 7)]
        assert data.sizes[code][-1][1] == sizes[code]
    assert [c.label for c in data.churn] == ["run 6", "run 7", "run 8"]


@pytest.mark.db
def test_empty_store_renders_with_explanations(engine: Engine) -> None:
    page = report.render(report.collect(engine))
    assert "No membership history yet" in page
    assert "No runs recorded yet" in page
    assert "<svg" not in page


def test_page_is_self_contained(tmp_path: Path) -> None:
    engine = _sqlite_store(tmp_path)
    seed(engine)
    page = report.render(report.collect(engine, "sqlite:///secret-free.db"))
    assert "<svg" in page and page.count("<svg") == 3
    # nothing fetched from anywhere: no external scripts, styles, images, fonts or links
    assert not re.search(r"""(src|href)\s*=|url\(|@import|<link|<script""", page, re.I)
    assert "http://" not in page and "https://" not in page


def test_store_password_never_printed(tmp_path: Path) -> None:
    data = report.ReportData(generated_at=T0,
                             store=report._safe_url("postgresql+psycopg://u:hunter2@db/x"))
    page = report.render(data)
    assert "hunter2" not in page and "***" in page


# --- the screenshot ------------------------------------------------------------------------


def _sqlite_store(tmp_path: Path) -> Engine:
    from bridge.store.engine import open_store

    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, [], 0
    height = color_type = 0
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind, body = blob[pos + 4:pos + 8], blob[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color_type in (2, 6), (depth, color_type)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    bpp = 4 if color_type == 6 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        ftype = raw[base]
        line = bytearray(raw[base + 1: base + 1 + stride])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r) for r in rows] if bpp == 3 else [
        b"".join(r[i:i + 3] for i in range(0, len(r), 4)) for r in rows
    ]


def colour_counts(rows: list[bytes], colours: dict[str, str]) -> dict[str, int]:
    """How many pixels have exactly each ``#rrggbb`` colour."""
    wanted = {bytes.fromhex(c[1:]): name for name, c in colours.items()}
    found: Counter[str] = Counter()
    for row in rows:
        for i in range(0, len(row), 3):
            name = wanted.get(row[i:i + 3])
            if name:
                found[name] += 1
    return {name: found.get(name, 0) for name in colours}


def screenshot(page: Path, out: Path) -> None:
    chromium = _chromium()
    assert chromium
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1200,2000",
             page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert out.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr}"


@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"),
                    reason="chromium missing: run .ci/chromium-setup (CI never skips this)")
def test_report_renders_its_charts_in_chromium(tmp_path: Path) -> None:
    engine = _sqlite_store(tmp_path)
    seed(engine)
    config = tmp_path / "segbridge.toml"
    config.write_text('[store]\nurl = "sqlite:///store.db"\n')
    page = tmp_path / "report.html"
    # through the real command line, as an admin would
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), "report", "--output",
         str(page)], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    png = tmp_path / "report.png"
    screenshot(page, png)
    keep = ROOT / ".pytest-artifacts"
    if keep.is_dir():  # handy for looking at it: mkdir .pytest-artifacts
        shutil.copy(png, keep / "report.png")
        shutil.copy(page, keep / "report.html")
    width, height, rows = read_png(png)
    assert (width, height) == (1200, 2000)
    counts = colour_counts(rows, {
        # lines are coloured by size: vip (57), lapsed (34), cart_abandoners (22)
        "vip line": report.PALETTE[0],
        "lapsed line": report.PALETTE[1],
        "cart_abandoners line": report.PALETTE[2],
        "joins": report.JOIN_COLOR,
        "leaves": report.LEAVE_COLOR,
        "before": report.BEFORE_COLOR,
        "after": report.AFTER_COLOR,
    })
    # a legend swatch is 100 pixels; each chart's series must cover far more than that
    for name, n in counts.items():
        assert n > 600, f"{name}: only {n} pixels of its colour in the screenshot: {counts}"
    # the page is not blank: lots of white card background and dark text too
    top_half = rows[: height // 2]
    white = colour_counts(top_half, {"white": "#ffffff"})["white"]
    assert white > width * height // 10


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"),
                    reason="chromium missing: run .ci/chromium-setup (CI never skips this)")
def test_report_of_real_runs_against_the_sandbox(tmp_path: Path) -> None:
    """sync + evaluate + push twice (the second as of half a year later, so that people
    leave segments too), then the report, rendered: every chart has its colours."""
    import os

    from bridge.sandbox.server import SandboxServer

    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    later = (datetime.now() + timedelta(days=200)).strftime("%Y-%m-%d")
    with SandboxServer(customers=300, seed=3) as sandbox:
        config = tmp_path / "segbridge.toml"
        config.write_text(f'[magento]\nbase_url = "{sandbox.base_url}"\n'
                          '[store]\nurl = "sqlite:///store.db"\n')
        env = {**os.environ, "MAGENTO_TOKEN": sandbox.token}
        for extra in ([], ["--as-of", later]):
            done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config),
                                   "run", *extra], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
    page = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), "--json",
                           "report", "--output", str(page)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"runs": 2' in done.stdout
    png = tmp_path / "real.png"
    screenshot(page, png)
    keep = ROOT / ".pytest-artifacts"
    if keep.is_dir():
        shutil.copy(png, keep / "real-report.png")
    _, _, rows = read_png(png)
    counts = colour_counts(rows, {
        "biggest segment line": report.PALETTE[0],
        "second segment line": report.PALETTE[1],
        "joins": report.JOIN_COLOR,
        "leaves": report.LEAVE_COLOR,
        "before": report.BEFORE_COLOR,
        "after": report.AFTER_COLOR,
    })
    for name, n in counts.items():
        assert n > 300, f"{name}: only {n} pixels of its colour in the screenshot: {counts}"


@pytest.mark.db
def test_the_report_right_after_the_first_push_names_groups_and_counts_the_moves(
    tmp_path: Path, db_url: str
) -> None:
    """sync + evaluate + push, no sync after: the groups the push created are named by
    their codes (from the push's own records even when the synced groups lack them),
    the moved count is what the push applied, and "after" counts the moved customers in
    their new groups."""
    import json as json_

    from sqlalchemy import delete, func, select

    from bridge.sandbox.server import SandboxServer
    from bridge.store.engine import make_engine
    from bridge.store.push_tables import PushGroup

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "vip.toml").write_text(
        'code = "vip"\nname = "VIP"\npriority = 100\n[conditions]\nmatch = "all"\n'
        'value = true\n[[conditions.rules]]\nattribute = "sales.amount"\naggregate = "total"\n'
        'operator = ">="\nvalue = 500\n[group]\ncode = "VIP Gold"\n')
    (mappings / "buyers.toml").write_text(
        'code = "buyers"\nname = "Buyers"\npriority = 10\n[conditions]\nmatch = "all"\n'
        'value = true\n[[conditions.rules]]\nattribute = "sales.orders_count"\n'
        'operator = ">="\nvalue = 1\n[group]\ncode = "Buyers"\n')
    with SandboxServer(customers=200, seed=6) as sandbox:
        config = tmp_path / "segbridge.toml"
        config.write_text(f'[magento]\nbase_url = "{sandbox.base_url}"\n'
                          f'[store]\nurl = "{db_url}"\n[mappings]\ndir = "{mappings}"\n')
        env = {**os.environ, "MAGENTO_TOKEN": sandbox.token}
        for argv in (["sync"], ["evaluate"], ["--json", "push"]):
            done = subprocess.run([sys.executable, "-m", "bridge", "--config", str(config),
                                   *argv], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        pushed = json_.loads(done.stdout)
    applied = pushed["steps"]["done"] - sum(pushed["created"].values())
    assert applied > 0
    engine = make_engine(db_url)
    try:
        from bridge.store.models import CustomerGroup

        with engine.begin() as conn:
            created = dict(conn.execute(select(PushGroup.code, PushGroup.group_id)).all())
            assert set(created) == {"VIP Gold", "Buyers"}
            # a store that has not seen the new groups yet: only the push's records name them
            conn.execute(delete(CustomerGroup).where(CustomerGroup.id.in_(created.values())))
            homes = conn.execute(select(func.count()).select_from(CustomerGroup)).scalar_one()
        assert homes >= 1
        data = report.collect(engine)
    finally:
        engine.dispose()
    assert data.last_push is not None and data.last_push["moved"] == applied
    by_code = {g.code: g for g in data.groups}
    assert not [c for c in by_code if c.startswith("group ")], by_code
    assert by_code["VIP Gold"].before == 0 and by_code["Buyers"].before == 0
    assert by_code["VIP Gold"].after + by_code["Buyers"].after == applied
    assert by_code["General"].before - by_code["General"].after == applied
    page = report.render(data)
    assert f"{applied:,} customers moved" in page and "VIP Gold" in page
