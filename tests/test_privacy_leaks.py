"""No personal data where it is not the point (docs/privacy.md).

A full run against the sandbox, then every command that shows the store or a run —
``check``, ``sync``, ``run``, ``evaluate``, ``segments``, ``history``, ``plan``, ``status``,
``report`` — at every verbosity (``-q``, default, ``-v``, ``-vv``), as text and as
``--json`` (logs in the matching format), with every output, log line and the report
file captured. None may hold an e-mail or a first or last name of the shop's customers;
``members``, ``explain`` and ``subject``, whose point they are, do (the test checks that
the scan would see them).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.errors import EXIT_OK, EXIT_PARTIAL
from bridge.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN_ENV = "SEGBRIDGE_LEAK_TEST_TOKEN"
VERBOSITY = (["-q"], [], ["-v"], ["-vv"])


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(customers=60, seed=11) as server:
        monkeypatch.setenv(TOKEN_ENV, server.token)
        yield server


def _config(folder: Path, server: SandboxServer, log_format: str) -> Path:
    mappings = folder / "mappings"
    if not mappings.exists():
        shutil.copytree(ROOT / "mappings", mappings)
    path = folder / f"segbridge-{log_format}.toml"
    path.write_text(
        f'[magento]\nbase_url = "{server.base_url}"\npage_size = 25\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "sqlite:///{(folder / "store.db").as_posix()}"\n'
        '[sync]\ncustomer_attributes = ["loyalty_tier", "preferred_language", "b2b_account"]\n'
        f'[log]\nformat = "{log_format}"\n'
        # every field kept, names and addresses too: a leak could not hide behind keep=used
        '[privacy]\nkeep = "all"\n'
        f'[mappings]\ndir = "{mappings.as_posix()}"\n'
    )
    return path


def personal_values(server: SandboxServer) -> tuple[set[str], set[str]]:
    """(e-mails, names) of the shop's customers and their addresses."""
    emails: set[str] = set()
    names: set[str] = set()
    shop = server.shop
    with shop.lock:
        for c in shop.customers.values():
            emails.add(c.email)
            names.update(n for n in (c.firstname, c.lastname) if n)
            for a in c.addresses:
                names.update(n for n in (a.firstname, a.lastname) if n)
    return emails, names


def find_personal(text: str, emails: set[str], names: set[str]) -> list[str]:
    folded = text.casefold()
    found = [e for e in emails if e.casefold() in folded]
    found += [n for n in names if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text)]
    return found


@pytest.fixture
def restore_logging() -> Iterator[None]:
    import logging

    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_segbridge", False):
            root.removeHandler(handler)
    root.setLevel(level)


def test_no_output_of_a_full_run_names_a_customer(
    tmp_path: Path, shop: SandboxServer, capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    emails, names = personal_values(shop)
    # names that the mappings or these commands use as words are not the shop's data
    own = " ".join(p.read_text() for p in (ROOT / "mappings").rglob("*") if p.is_file())
    names = {n for n in names if not re.search(rf"(?<!\w){re.escape(n)}(?!\w)", own)}
    assert len(emails) >= 50 and len(names) > 20  # an e-mail may be one a website
    outputs: dict[str, str] = {}

    def cmd(config: Path, label: str, *argv: str, ok: tuple[int, ...] = (EXIT_OK,)) -> str:
        code = main(["--config", str(config), *argv])
        got = capsys.readouterr()
        assert code in ok, (label, code, got.err)
        outputs[label] = got.out + "\n" + got.err
        return got.out

    first = _config(tmp_path, shop, "text")
    cmd(first, "run (first)", "-vv", "run", ok=(EXIT_OK, EXIT_PARTIAL))
    shop.shop.touch(customers=0.2, orders=0.2, carts=0.2, addresses=0.2, seed=3)
    for fmt in ("text", "json"):
        config = _config(tmp_path, shop, fmt)
        mode = ["--json"] if fmt == "json" else []
        for verbosity in VERBOSITY:
            tag = f"{fmt} {' '.join(verbosity) or 'default'}"
            for argv, ok in (
                (["check"], (EXIT_OK,)),
                (["sync"], (EXIT_OK, EXIT_PARTIAL)),
                (["run"], (EXIT_OK, EXIT_PARTIAL)),
                (["evaluate"], (EXIT_OK,)),
                (["segments"], (EXIT_OK,)),
                (["history", "lapsed"], (EXIT_OK,)),
                (["history", "cart_abandoners"], (EXIT_OK,)),
                (["plan"], (EXIT_OK,)),
                (["status"], (EXIT_OK,)),
            ):
                cmd(config, f"{tag}: {' '.join(argv)}", *verbosity, *mode, *argv, ok=ok)
            report = tmp_path / f"report-{fmt}-{len(verbosity)}.html"
            cmd(config, f"{tag}: report", *verbosity, *mode, "report", "--output", str(report))
            outputs[f"{tag}: report file"] = report.read_text(encoding="utf-8")
    leaks = {label: find_personal(text, emails, names) for label, text in outputs.items()}
    leaks = {k: v for k, v in leaks.items() if v}
    assert leaks == {}, leaks
    assert len(outputs) == 1 + 2 * 4 * 11
    assert sum(len(t) for t in outputs.values()) > 200_000  # they did say something

    # where it is the point, the scan sees them: members, explain, subject
    config = _config(tmp_path, shop, "text")
    listed = json.loads(cmd(config, "segments", "--json", "segments"))
    code = next(r["code"] for r in listed if r["members"])
    members = cmd(config, "members", "--json", "members", code)
    assert find_personal(members, emails, names)
    someone = json.loads(members)[0]["customer_id"]
    explained = cmd(config, "explain", "explain", code, str(someone))
    assert find_personal(explained, emails, names)
    held = cmd(config, "subject", "subject", str(someone))
    assert find_personal(held, emails, names)
