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

        assert lines[0].index("Point store.url at this shop's own store") < lines[0].index(
            "only if this is the same shop after a domain move, run `segbridge check --online "
            "--rebind`"), lines[0]

    # --rebind with a problem found online: said from and to, exit 2, nothing recorded
    sc.config_path.write_text(text.replace(sc.sandbox.base_url, shop_b.base_url)
                              .replace('movable_groups = ["General"]',
                                       'movable_groups = ["Genral"]'))
    code, out, err = _run(capsys, sc, "check", "--online", "--rebind")
    assert code == EXIT_BAD_INPUT, out + err
    assert (f"--rebind: this store belongs to the shop at {sc.sandbox.base_url}/ (websites "
            f"{recorded['websites'].replace(',', ', ')}); it is to be rebound to the shop at "
            f"{shop_b.base_url}/") in out, out
    assert "'Genral'" in err and "--rebind: nothing recorded, since the check found " \
        "problems; the store still belongs to the shop at " + sc.sandbox.base_url in err, err
    with sc.engine.connect() as conn:
        assert dict(conn.execute(select(ShopIdentity.key, ShopIdentity.value)).all()) == recorded

    # after a domain move: --rebind records the shop the store now reaches
    sc.config_path.write_text(text.replace(sc.sandbox.base_url, shop_b.base_url))
    code, out, err = _run(capsys, sc, "check", "--online", "--rebind")
    assert code == EXIT_OK, out + err
    assert out.index("--rebind: this store belongs to the shop at") < out.index(
        f"this store now belongs to the shop at {shop_b.base_url}"), out
    code, out, err = _run(capsys, sc, "plan")
    assert code == EXIT_OK, out + err
    assert _writes(shop_b) == 0


@pytest.mark.db
def test_a_renamed_website_is_said_as_such_not_as_another_shop(
    two_shops: tuple[Scenario, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    sc, _shop_b = two_shops
    code, out, err = _run(capsys, sc, "run")
    assert code == EXIT_OK, out + err
    with sc.shop.lock:
        wid = next(i for i, w in enumerate(sc.shop.websites) if w.code == "nordic")
        sc.shop.websites[wid] = dataclasses.replace(sc.shop.websites[wid], code="scandinavia")
    sc.sandbox.stats.reset()
    for argv in (["run"], ["check", "--online"]):
        code, out, err = _run(capsys, sc, *argv)
        assert code == EXIT_BAD_INPUT, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0] == (
            f"magento.base_url {sc.sandbox.base_url} reaches the shop this store belongs to "
            f"({sc.sandbox.base_url}/), but its website code(s) nordic are gone (websites now: "
            "base, scandinavia); nothing was done. If a website was renamed or deleted on "
            "purpose, update the segment files that name it and run `segbridge check --online "
            "--rebind` to record the websites as they are now"), lines[0]
        assert "another shop" not in lines[0]
    assert _writes(sc.sandbox) == 0
    code, out, err = _run(capsys, sc, "check", "--online", "--rebind")
    assert code == EXIT_OK, out + err
    code, out, err = _run(capsys, sc, "run")
    assert code == EXIT_OK, out + err


def test_rebind_says_when_the_websites_differ_too() -> None:
    from bridge.identity import rebind_line

    old = Identity("http://a", "http://shop-a.example/", ("base", "se"))
    new = Identity("http://b", "http://shop-b.example/", ("base", "de"))
    line = rebind_line(old, new)
    assert line.startswith("--rebind: this store belongs to the shop at http://shop-a.example/ "
                           "(websites base, se); it is to be rebound to the shop at "
                           "http://shop-b.example/ (websites base, de). The websites differ "
                           "too (gone: se; new: de)"), line
    assert "point store.url at a new store" in line
    moved = Identity("http://b", "http://shop-b.example/", ("base", "se"))
    assert "differ" not in rebind_line(old, moved)


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
