"""A store belongs to one shop: a store filled from shop A never writes to shop B.

Two sandboxes on 127.0.0.1 with different seeds are two shops. A store that ran against
A, its config then pointed at B (only ``magento.base_url`` changed), is refused by every
command that talks to Magento before any write: exit 2, one line naming both shops, and
B's write requests counted 0. ``check --online --rebind`` accepts B after a domain move.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from test_push_kit import WRITE_METHODS, Scenario

from bridge.cli import main
from bridge.errors import EXIT_BAD_INPUT, EXIT_OK
from bridge.identity import Identity, same_shop, shown_url
from bridge.store.models import Customer, ShopIdentity


def _run(capsys: pytest.CaptureFixture[str], sc: Scenario, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(sc.config_path), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _writes(server: Any) -> int:
    routes = server.stats.snapshot()["routes"]
    return sum(n for route, n in routes.items() if route.split()[0] in WRITE_METHODS)


@pytest.fixture
def two_shops(tmp_path: Path, db_url: str) -> Iterator[tuple[Scenario, Any]]:
    from bridge.sandbox.server import SandboxServer

    sc = Scenario(tmp_path / "a", db_url, seed=3)
    other = SandboxServer(customers=150, seed=4)
    try:
        yield sc, other
    finally:
        other.close()
        sc.close()


@pytest.mark.db
def test_a_store_from_shop_a_never_writes_to_shop_b(
    two_shops: tuple[Scenario, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sc, shop_b = two_shops
    code, out, err = _run(capsys, sc, "run")
    assert code == EXIT_OK, out + err
    with sc.engine.connect() as conn:
        recorded = dict(conn.execute(select(ShopIdentity.key, ShopIdentity.value)).all())
        customers = conn.execute(select(func.count()).select_from(Customer)).scalar_one()
    assert recorded["store_base_url"].startswith(sc.sandbox.base_url), recorded
    assert recorded["websites"] and recorded["base_url"] == sc.sandbox.base_url
    # the groups segbridge made and filled are its own, not a merchant's group to adopt;
    # a store that was lost still knows them by its cart rules' segbridge: markers
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_OK, out + err
    text = sc.config_path.read_text()
    fresh = text.replace(sc.db_url, f"sqlite:///{sc.root / 'fresh.db'}")
    sc.config_path.write_text(fresh)
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_OK, out + err
    sc.config_path.write_text(text)

    sc.config_path.write_text(text.replace(sc.sandbox.base_url, shop_b.base_url))
    shop_b.stats.reset()
    for argv in (["push"], ["run"], ["resync"], ["sync"], ["plan"], ["plan", "--as-of", "30d"],
                 ["check", "--online"]):
        code, out, err = _run(capsys, sc, *argv)
        lines = err.strip().splitlines()
        assert code == EXIT_BAD_INPUT, (argv, out, err)
        assert len(lines) == 1, (argv, err)
        assert shop_b.base_url in lines[0] and sc.sandbox.base_url in lines[0], lines[0]
        assert "another shop" in lines[0]
        assert "--rebind" in lines[0]
        assert _writes(shop_b) == 0, (argv, shop_b.stats.snapshot())
    with sc.engine.connect() as conn:  # and nothing of shop B came into the store
        assert conn.execute(select(func.count()).select_from(Customer)).scalar_one() == customers
        assert dict(conn.execute(select(ShopIdentity.key, ShopIdentity.value)).all()) == recorded

    # after a domain move: --rebind records the shop the store now reaches
    code, out, err = _run(capsys, sc, "check", "--online", "--rebind")
    assert code == EXIT_OK, out + err
    assert f"this store now belongs to the shop at {shop_b.base_url}" in out, out
    code, out, err = _run(capsys, sc, "plan")
    assert code == EXIT_OK, out + err
    assert _writes(shop_b) == 0


@pytest.mark.db
def test_the_first_sync_records_the_shop_and_check_records_nothing(
    two_shops: tuple[Scenario, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sc, _shop_b = two_shops
    code, out, err = _run(capsys, sc, "check", "--online")
    assert code == EXIT_OK, out + err
    with sc.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ShopIdentity)).scalar_one() == 0
    code, out, err = _run(capsys, sc, "sync")
    assert code == EXIT_OK, out + err
    with sc.engine.connect() as conn:
        keys = set(conn.execute(select(ShopIdentity.key)).scalars())
    assert keys == {"base_url", "store_base_url", "websites"}


def test_the_same_shop_is_told_apart_from_another() -> None:
    old = Identity("http://10.0.0.5", "http://shop.example/", ("base", "se"))
    # https, letter case, a trailing slash, a new website, a new configured address
    same = Identity("https://shop.example", "https://Shop.Example", ("base", "dk", "se"))
    assert same_shop(old, same)
    assert not same_shop(old, Identity("http://x", "http://staging.shop.example/", ("base", "se")))
    assert not same_shop(old, Identity("http://x", "http://shop.example/", ("base",)))
    assert not same_shop(old, Identity("http://x", "http://shop.example:8080/", ("base", "se")))


def test_a_url_with_a_password_is_never_shown() -> None:
    assert shown_url("http://user:secret@shop.example:81/x") == "http://shop.example:81/x"
    assert shown_url("https://shop.example/") == "https://shop.example/"
