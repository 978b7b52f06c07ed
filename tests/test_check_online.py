"""``check --online`` verifies every name the config and the segment files use against
the shop, and refuses a merchant's group named by a segment; an empty mappings folder is
refused by ``plan``, ``push`` and ``run``; a plan that cannot proceed says why once.

The first-day mistakes: ``movable_groups = ["Genral"]`` passed ``check --online`` and
``plan`` printed one stderr line per customer, none naming the typo;
``customer.group == "Platinum"`` (no such group) matched nobody, silently; a segment
``[group]`` naming Wholesale adopted it with its customers; an empty or mistyped
mappings folder passed ``check``, then ``plan`` sent every member home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

TOKEN_ENV = "SEGBRIDGE_CHECK_ONLINE_TOKEN"

PLAIN = """\
code = "big"
name = "Big spenders"
priority = 10
[conditions]
rules = [{ attribute = "sales.amount", operator = ">=", value = 100 }]
[group]
code = "Big"
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from bridge.sandbox.server import SandboxServer

    with SandboxServer(customers=80, seed=5) as server:
        yield server


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)


def setup(folder: Path, base_url: str, files: dict[str, str], *, push: str = "",
          store: str | None = None) -> Path:
    mappings = folder / "mappings"
    (mappings / "blocks").mkdir(parents=True, exist_ok=True)
    (mappings / "blocks" / "b.html").write_text("<p>hello</p>\n")
    for name, text in files.items():
        (mappings / name).write_text(text)
    config = folder / "segbridge.toml"
    config.write_text(
        f'[magento]\nbase_url = "{base_url}"\ntimeout_s = 5\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "{store or "sqlite:///" + (folder / "store.db").as_posix()}"\n'
        f'[push]\n{push}\n'
        f'[mappings]\ndir = "{mappings.as_posix()}"\n'
    )
    return config


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout, and stderr without the INFO log lines (e.g. the shop recorded)."""
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    err = "".join(line for line in out.err.splitlines(keepends=True) if " INFO " not in line)
    return code, out.out, err


def test_a_movable_group_typo_is_named_by_check_online_and_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any
) -> None:
    config = setup(tmp_path, sandbox.base_url, {"big.toml": PLAIN},
                   push='movable_groups = ["Genral"]')
    code, out, err = run(capsys, config, "check")
    assert code == EXIT_OK, err
    assert "warning: names not verified against the shop" in err
    assert "check --online" in err

    code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_BAD_INPUT, out + err
    lines = err.strip().splitlines()
    assert lines == [
        f"{config}: push.movable_groups: 'Genral' is not a customer group of the shop "
        "(did you mean 'General'?) (groups: General, Retailer, Wholesale); "
        "no customer in it could ever be moved"
    ], err

    sandbox.stats.reset()
    for command in ("push", "run", "plan"):  # (plan reads a store that push made)
        code, out, err = run(capsys, config, command)
        assert code == EXIT_BAD_INPUT, (command, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "'Genral'" in lines[0] and "'General'" in lines[0], err
    routes = sandbox.stats.snapshot()["routes"]
    assert not [r for r in routes if r.split()[0] in ("POST", "PUT", "DELETE")], routes
    # refused before anything was done: run did not even sync
    assert set(routes) <= {"GET /V1/store/websites", "GET /V1/store/storeConfigs",
                           "GET /V1/customerGroups/search"}, routes


def test_unknown_names_in_segment_files_each_get_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any
) -> None:
    files = {
        "platinum.toml": PLAIN.replace('"big"', '"plat"').replace('"Big"', '"Plat"').replace(
            '{ attribute = "sales.amount", operator = ">=", value = 100 }',
            '{ attribute = "customer.group", operator = "==", value = "Platinum" }'),
        "where.toml": (
            'code = "where"\nname = "Where"\nwebsite = "bse"\n[conditions]\nmatch = "any"\n'
            'rules = [\n'
            '  { attribute = "customer.store", operator = "==", value = "defualt" },\n'
            '  { attribute = "customer.website", operator = "()", value = ["base", "nrdic"] },\n'
            '  { attribute = "customer.group", operator = "==", value = "wholesale" },\n'
            ']\n[group]\ncode = "Where"\n'
            '[[cms_blocks]]\nidentifier = "hero"\ntitle = "Hero"\ncontent_file = "blocks/b.html"\n'
            'stores = [1, 9]\n'
        ),
    }
    config = setup(tmp_path, sandbox.base_url, files, push='movable_groups = ["General"]')
    code, out, err = run(capsys, config, "check")
    assert code == EXIT_OK, err  # offline: nothing to say but the warning

    code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_BAD_INPUT, out + err
    lines = err.strip().splitlines()
    expect = [
        ("platinum.toml: conditions.rules[0].value: customer.group 'Platinum' is not a "
         "customer group of the shop (groups: General, Retailer, Wholesale)"),
        "where.toml: website: 'bse' is not a website of the shop (did you mean 'base'?)",
        ("where.toml: conditions.rules[0].value: customer.store 'defualt' is not a store view "
         "code of the shop (did you mean 'default'?)"),
        ("where.toml: conditions.rules[1].value: customer.website 'nrdic' is not a website "
         "code of the shop (did you mean 'nordic'?)"),
        "where.toml: cms_blocks[0].stores: 9 is not a store view id of the shop",
    ]
    for part in expect:
        assert sum(part in line for line in lines) == 1, (part, err)
    assert len(lines) == len(expect), err  # "wholesale" is Wholesale: groups ignore case
    code, out, _ = run(capsys, config, "--json", "check", "--online")
    assert code == EXIT_BAD_INPUT
    assert len(json.loads(out)["problems"]) == len(expect)


def test_a_segment_naming_a_merchants_group_needs_adopt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any
) -> None:
    held = sum(c.group_id == 2 for c in sandbox.shop.customers.values())  # Wholesale's
    assert held
    wholesale = PLAIN.replace('code = "Big"', 'code = "wholesale"')
    config = setup(tmp_path, sandbox.base_url, {"big.toml": wholesale})
    code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_BAD_INPUT, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mappings/big.toml: group.code: 'Wholesale' is an existing group "
                               f"of the shop that holds {held} customer(s) segbridge has no "
                               "record of putting there"), err
    assert "set adopt = true in [group]" in lines[0]

    (tmp_path / "mappings" / "big.toml").write_text(wholesale + "adopt = true\n")
    code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_OK, out + err


@pytest.mark.parametrize("command", ["plan", "push", "run"])
def test_an_empty_mappings_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any, command: str
) -> None:
    config = setup(tmp_path, sandbox.base_url, {})
    sandbox.stats.reset()
    code, out, err = run(capsys, config, command)
    assert code == EXIT_BAD_INPUT, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "no segment file (*.toml) in this folder" in lines[0]
    assert "a wrong path would otherwise send every member home" in lines[0]
    assert "set active = false in each file" in lines[0]
    assert sandbox.stats.snapshot()["total"] == 0
    assert not (tmp_path / "store.db").exists()


def test_check_warns_about_an_empty_mappings_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any
) -> None:
    config = setup(tmp_path, sandbox.base_url, {})
    code, out, err = run(capsys, config, "check")
    assert code == EXIT_OK
    assert "no segment file (*.toml) in this folder" in err


def test_problems_are_said_once_per_cause_with_a_count() -> None:
    from bridge.push.command import distinct_causes

    lines = [f"customer {i}: first seen in managed group 'VIP' and no home" for i in range(2209)]
    lines += ["segment vip: cms block 'hero': store 9 is unknown"] * 2
    assert distinct_causes(lines) == [
        "segment vip: cms block 'hero': store 9 is unknown",
        "first seen in managed group 'VIP' and no home (2209 customers, e.g. 0, 1, 2, …)",
    ]


@pytest.mark.parametrize("command", [["check", "--online"], ["run"]])
def test_an_unreachable_store_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = setup(tmp_path, f"http://127.0.0.1:{port}", {"big.toml": PLAIN})
    started = time.monotonic()
    code, out, err = run(capsys, config, *command)
    assert time.monotonic() - started < 30
    assert code == EXIT_FAILED, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "magento.base_url" in lines[0], err
    assert "Traceback" not in err and "FAIL" not in out


@pytest.mark.parametrize("command", [["check", "--online"], ["run"]])
def test_refused_credentials_are_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox: Any,
    monkeypatch: pytest.MonkeyPatch, command: list[str],
) -> None:
    config = setup(tmp_path, sandbox.base_url, {"big.toml": PLAIN})
    monkeypatch.setenv(TOKEN_ENV, "not-the-token")
    code, out, err = run(capsys, config, *command)
    assert code == EXIT_FAILED, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and TOKEN_ENV in lines[0], err
    assert "not-the-token" not in out + err and "FAIL" not in out and "Traceback" not in err


def test_rebind_needs_online(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             sandbox: Any) -> None:
    config = setup(tmp_path, sandbox.base_url, {"big.toml": PLAIN})
    code, out, err = run(capsys, config, "check", "--rebind")
    assert code == EXIT_BAD_INPUT
    assert err.strip().splitlines() == [
        "--rebind: only with --online (it records the shop the store reaches)"]
    assert not (tmp_path / "store.db").exists()
