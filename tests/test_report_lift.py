"""The report's lift section: per segment with a holdout, both sides' conversion and
revenue per member with their intervals as a chart, and the verdict in words; rendered in
headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import Engine
from test_lift_command import _store
from test_report import _chromium, colour_counts, read_png

from bridge import report
from bridge.lift.command import revenue_verdict
from bridge.lift.compute import compute_lift
from bridge.store.engine import open_store

ROOT = Path(__file__).resolve().parent.parent


def _two_segments(engine: Engine) -> None:
    _store(engine, 3000)  # vip: holdout 20 %, 50 % more buyers on the treated side
    _store(engine, 60, share=0.1, code="tiny", offset=10_000)  # too few held out to judge


@pytest.mark.db
def test_collect_reads_the_lift_of_each_segment_with_a_holdout(engine: Engine) -> None:
    _two_segments(engine)
    data = report.collect(engine)
    assert [lift.segment for lift in data.lifts] == ["tiny", "vip"]
    with engine.connect() as conn:
        expected = compute_lift(conn, "vip", 0.2, since=data.lifts[1].since)
    assert data.lifts[1] == expected
    page = report.render(data)
    section = page[page.index('<section id="lift">'):]
    section = section[:section.index("</section>")]
    assert report._e(expected.verdict()) in section
    assert report._e(revenue_verdict(expected)) in section
    assert "tiny: too few to judge" in section and "Too few to judge" in section
    assert section.count("<svg") == 2
    assert report.TREATED_COLOR in section and report.HELD_OUT_COLOR in section


def test_a_store_without_holdouts_says_so(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        _store(engine, 100, share=0.0)
        page = report.render(report.collect(engine))
    finally:
        engine.dispose()
    assert "No segment has a holdout" in page


def render_png(page: Path, png: Path, height: int = 2600) -> None:
    """The page in headless Chromium, ``height`` pixels tall (the lift section is below
    the other charts)."""
    chromium = _chromium()
    assert chromium
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size=1200,{height}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert png.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr}"


@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"),
                    reason="chromium missing: run .ci/chromium-setup (CI never skips this)")
def test_the_lift_section_renders_in_chromium(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        _two_segments(engine)
    finally:
        engine.dispose()
    config = tmp_path / "segbridge.toml"
    config.write_text('[store]\nurl = "sqlite:///store.db"\n')
    page = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), "report", "--output",
         str(page)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    png = tmp_path / "report.png"
    render_png(page, png)
    keep = os.environ.get("SEGBRIDGE_LIFT_PNG")  # where to keep it for looking at
    if keep:
        Path(keep).write_bytes(png.read_bytes())
    width, height, rows = read_png(png)
    assert (width, height) == (1200, 2600)
    counts = colour_counts(rows, {"treated": report.TREATED_COLOR,
                                  "held out": report.HELD_OUT_COLOR,
                                  "whiskers": report.WHISKER_COLOR})
    # two segments × two panels × a bar of 20 px height and tens of px wide, each side
    for name, n in counts.items():
        assert n > 1500, f"{name}: only {n} pixels of its colour: {counts}"
