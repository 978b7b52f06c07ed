"""``check --online`` finds segbridge's storefront module over real HTTP: its version and
parts; a store without it says so in one line (exit 0); a store with it whose credentials
lack ``Segbridge_SegmentBlock::api`` says what to grant, without the 401 on the module
route being taken for refused credentials; ``module.use = "on"`` makes a missing module a
failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.errors import EXIT_FAILED, EXIT_OK

TOKEN_ENV = "SEGBRIDGE_CHECK_MODULE_TOKEN"
ACL = "Segbridge_SegmentBlock::api"

SEGMENT = """\
code = "big"
name = "Big spenders"
priority = 10
[conditions]
rules = [{ attribute = "sales.amount", operator = ">=", value = 100 }]
[group]
code = "Big"
"""


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "sandbox-token")


def shop(**kw: Any) -> Any:
    from bridge.sandbox.server import SandboxServer

    return SandboxServer(customers=30, seed=5, **kw)


@pytest.fixture
def with_module() -> Iterator[Any]:
    with shop() as s:
        yield s


def setup(folder: Path, base_url: str, module: str = "") -> Path:
    mappings = folder / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    (mappings / "big.toml").write_text(SEGMENT)
    config = folder / "segbridge.toml"
    config.write_text(
        f'[magento]\nbase_url = "{base_url}"\ntimeout_s = 5\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "sqlite:///{(folder / "store.db").as_posix()}"\n'
        f"[module]\n{module}\n"
        f'[mappings]\ndir = "{mappings.as_posix()}"\n'
    )
    return config


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    err = "".join(line for line in out.err.splitlines(keepends=True) if " INFO " not in line)
    return code, out.out, err


def module_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "storefront module" in line]


def test_found_with_its_version_and_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         with_module: Any) -> None:
    config = setup(tmp_path, with_module.base_url)
    code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_OK, out + err
    lines = module_lines(out)
    assert "ok   storefront module (Segbridge_SegmentBlock::api)" in lines
    note = [line for line in lines if line.startswith("storefront module:")]
    assert note == ["storefront module: Segbridge_SegmentBlock 0.2.0 (parts on: catalog_rules, "
                    "group_assignments, product_views, session_refresh, wishlist_items); the "
                    "push moves customers up to 1000 a request through it"]
    assert with_module.stats.get("GET", "/V1/segbridge/info") == 1


def test_parts_switched_off_and_the_config_are_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], with_module: Any) -> None:
    with_module.shop.module.features = ("catalog_rules", "wishlist_items")
    config = setup(tmp_path, with_module.base_url)
    code, out, _ = run(capsys, config, "check", "--online")
    assert code == EXIT_OK
    assert ("storefront module: Segbridge_SegmentBlock 0.2.0 (parts on: catalog_rules, "
            "wishlist_items); its group assignments part is off: the push moves customers one "
            "GET and PUT each") in out
    with_module.shop.module.features = ("group_assignments",)
    config = setup(tmp_path / "b", with_module.base_url, "group_assignments = false")
    code, out, _ = run(capsys, config, "check", "--online")
    assert code == EXIT_OK
    assert "(module.group_assignments = false)" in out
    config = setup(tmp_path / "c", with_module.base_url, 'use = "off"')
    code, out, _ = run(capsys, config, "--json", "check", "--online")
    data = json.loads(out)
    assert code == EXIT_OK and data["ok"]
    assert data["module"] == {"installed": True, "granted": True, "version": "0.2.0",
                              "features": ["group_assignments"], "use": "off",
                              "group_assignments": False}
    assert any('not used (module.use = "off")' in n for n in data["notes"])


def test_a_store_without_it_says_so_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with shop(module=False) as bare:
        config = setup(tmp_path, bare.base_url)
        code, out, err = run(capsys, config, "check", "--online")
    assert code == EXIT_OK, out + err
    assert module_lines(out) == [
        "storefront module: not installed (GET /V1/segbridge/info: no such route); the push "
        "moves customers one GET and PUT each"]
    assert "FAIL" not in out and not err.strip()


def test_required_but_missing_fails_the_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with shop(module=False) as bare:
        config = setup(tmp_path, bare.base_url, 'use = "on"')
        code, out, _ = run(capsys, config, "check", "--online")
    assert code == EXIT_FAILED
    assert module_lines(out) == [
        'FAIL storefront module (Segbridge_SegmentBlock::api): not installed, and module.use = '
        '"on" requires it: install it (docs/push.md) or set module.use = "auto"']


@pytest.mark.parametrize("use", ["auto", "on"])
def test_not_granted_says_what_to_grant_and_the_credentials_still_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], use: str) -> None:
    with shop(denied_resources=(ACL,)) as denied:
        config = setup(tmp_path, denied.base_url, f'use = "{use}"')
        code, out, err = run(capsys, config, "check", "--online")
    lines = module_lines(out)
    assert len(lines) == 1, out
    assert f"lack its ACL resource {ACL}" in lines[0] and "docs/push.md" in lines[0]
    assert "refused the credentials" not in out + err
    # the probes after the module's still ran with the same credentials
    assert "ok   customer groups" in out
    if use == "auto":
        assert code == EXIT_OK, out + err
        assert lines[0].startswith("storefront module: installed, but these credentials lack")
    else:
        assert code == EXIT_FAILED
        assert lines[0].startswith("FAIL storefront module")


def test_a_401_on_the_module_route_first_is_not_refused_credentials() -> None:
    """The caveat of the client: a first request answered 401 marks the credentials
    refused for the rest of the run. module_info makes an accepted read first."""
    from bridge.config import MagentoConfig
    from bridge.magento.auth import TokenAuth
    from bridge.magento.client import MagentoClient
    from bridge.magento.module import ModuleNotGrantedError, module_info

    with shop(denied_resources=(ACL,)) as denied:
        client = MagentoClient(MagentoConfig(base_url=denied.base_url, timeout_s=5),
                               auth=TokenAuth(denied.token))
        with pytest.raises(ModuleNotGrantedError):
            module_info(client)
        assert client.websites()  # not refused afterwards
        assert denied.stats.get("GET", "/V1/store/websites") == 2
