"""The push through the storefront module's ``POST /V1/segbridge/groupAssignments``.

Real HTTP against the sandbox on 127.0.0.1: with the module (``module.use = "auto"``, the
default) every group change of a push goes through the bulk route, and the shop ends
exactly as after the per-customer GET and PUT of a store without it; a customer moved by
someone else between plan and request comes back ``changed_meanwhile`` and is left alone
(stale, then drift), not an error; a deleted one comes back ``not_found`` and is skipped;
``module.use`` = "on" / "off" and ``module.group_assignments = false`` do what
docs/push.md says; a request refused as a whole or failing after its retries falls back
to the per-customer path for its customers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_FAILED, EXIT_OK

pytestmark = pytest.mark.db

BULK = ("POST", "/V1/segbridge/groupAssignments")
INFO = ("GET", "/V1/segbridge/info")
CUSTOMER_GET = ("GET", "/V1/customers/{customerId}")
CUSTOMER_PUT = ("PUT", "/V1/customers/{customerId}")


def module_toml(**keys: Any) -> str:
    """``[module]`` keys, through write_config's extra [push] text (a new table)."""
    body = "".join(f"{k} = {v!r}\n".replace("'", '"') if not isinstance(v, bool)
                   else f"{k} = {'true' if v else 'false'}\n" for k, v in keys.items())
    return "\n[module]\n" + body


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One push on a store without the module: the per-customer path's end state."""
    root = tmp_path_factory.mktemp("bulk-ref")
    sc = Scenario(root / "s", f"sqlite:///{root / 'ref.db'}")
    try:
        sc.sync_evaluate()
        result = sc.push()
        assert result.exit_code == EXIT_OK
        moved = sc.sandbox.stats.get(*CUSTOMER_PUT)
        return {"state": shop_state(sc.shop), "moved": moved}
    finally:
        sc.close()


@pytest.fixture
def scenario(tmp_path: Path, db_url: str) -> Iterator[Scenario]:
    sc = Scenario(tmp_path / "s", db_url, module=True)
    try:
        yield sc
    finally:
        sc.close()


def test_every_change_goes_through_the_bulk_route_and_ends_exact(
        scenario: Scenario, reference: dict[str, Any]) -> None:
    sc = scenario
    sc.shop.module.max_group_assignments = 20  # several requests
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    stats = sc.sandbox.stats
    moved = reference["moved"]
    assert moved > 40
    assert stats.get(*INFO) == 1
    assert stats.get(*BULK) == math.ceil(moved / 20)
    assert stats.get(*CUSTOMER_GET) == 0 and stats.get(*CUSTOMER_PUT) == 0
    assert result.states["done"] >= moved and result.written >= moved
    assert shop_state(sc.shop) == reference["state"]
    # the store knows where segbridge put them: the next push plans nothing, writes nothing
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan is not None and again.plan.size == 0
    assert sc.writes() == 0
    assert not again.plan_json["drift"]


def test_the_module_flags_each_moved_customers_session(scenario: Scenario) -> None:
    sc = scenario
    sc.sync_evaluate()
    before = {c.id: c.group_id for c in sc.shop.customers.values()}
    assert sc.push().exit_code == EXIT_OK
    moved = {c.id for c in sc.shop.customers.values() if c.group_id != before[c.id]}
    assert moved and sc.shop.module.refresh_flags == moved


def _move_between_plan_and_request(monkeypatch: pytest.MonkeyPatch, act: Any) -> None:
    """Run ``act(chunk)`` just before the first bulk request leaves (after the plan)."""
    from bridge.push import bulk

    real = bulk.send
    calls = []

    def send(ctx: Any, chunk: list[Any]) -> Any:
        if not calls:
            act(chunk)
        calls.append(len(chunk))
        return real(ctx, chunk)

    monkeypatch.setattr(bulk, "send", send)


def test_changed_meanwhile_is_left_alone_and_reported_as_drift(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = scenario
    sc.sync_evaluate()
    picked: dict[str, int] = {}

    def act(chunk: list[Any]) -> None:
        (s1, t1), (s2, t2) = chunk[0], chunk[1]
        other = sc.group_id("Loyal") if t1 != sc.group_id("Loyal") else sc.group_id("VIP")
        # a person moves one into another managed group, and one into its very target
        sc.shop.update_customer(int(s1.key), group_id=other)
        sc.shop.update_customer(int(s2.key), group_id=t2)
        picked.update(stale=int(s1.key), other=other, same=int(s2.key), target=t2)

    _move_between_plan_and_request(monkeypatch, act)
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()  # not an error
    assert result.stale == [{"customer_id": picked["stale"], "group": picked["other"]}]
    assert result.states["stale"] == 1
    assert sc.shop.customers.get(picked["stale"]).group_id == picked["other"]  # left alone
    assert sc.shop.customers.get(picked["same"]).group_id == picked["target"]
    monkeypatch.undo()
    sc.sync_evaluate()
    again = sc.push()
    assert [d["customer_id"] for d in again.plan_json["drift"]] == [picked["stale"]]
    assert sc.shop.customers.get(picked["stale"]).group_id == picked["other"]


def test_not_found_is_a_customer_gone_like_today(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.store.models import Customer

    sc = scenario
    sc.sync_evaluate()
    gone: list[int] = []

    def act(chunk: list[Any]) -> None:
        gone.append(int(chunk[0][0].key))
        sc.shop.delete_customer(gone[0])

    _move_between_plan_and_request(monkeypatch, act)
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    assert result.states["skipped"] == 1 and not result.refused
    with Session(sc.engine) as s:
        assert s.scalar(select(Customer.deleted).where(Customer.id == gone[0])) is True


def test_off_never_asks_and_group_assignments_false_keeps_the_puts(
        tmp_path: Path, db_url: str, reference: dict[str, Any]) -> None:
    for n, keys in enumerate(({"use": "off"}, {"group_assignments": False})):
        sc = Scenario(tmp_path / f"s{n}", db_url if n == 0 else f"sqlite:///{tmp_path}/{n}.db",
                      module=True, extra_push=module_toml(**keys))
        try:
            sc.sync_evaluate()
            sc.sandbox.stats.reset()
            assert sc.push().exit_code == EXIT_OK
            stats = sc.sandbox.stats
            assert stats.get(*BULK) == 0
            assert stats.get(*INFO) == (0 if keys.get("use") == "off" else 1)
            assert stats.get(*CUSTOMER_PUT) == reference["moved"]
            assert shop_state(sc.shop) == reference["state"]
        finally:
            sc.close()


def test_on_without_the_module_stops_before_any_write(
        tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    sc = Scenario(tmp_path / "s", db_url, module=False, extra_push=module_toml(use="on"))
    try:
        sc.sync_evaluate()
        before = shop_state(sc.shop)
        sc.sandbox.stats.reset()
        for command in (["push"], ["run"]):
            capsys.readouterr()
            code = main(["--config", str(sc.config_path), *command])
            err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
            assert code == EXIT_FAILED
            assert err == [
                'segbridge: module.use = "on" requires segbridge\'s storefront module, but the '
                "store has none (GET /V1/segbridge/info: no such route); nothing was written. "
                "Install it and grant its ACL resource (docs/push.md), or set module.use "
                '= "auto" to push without it'], err
        assert sc.writes() == 0
        assert shop_state(sc.shop) == before
    finally:
        sc.close()


@pytest.mark.parametrize("use", ["auto", "on"])
def test_not_granted(tmp_path: Path, db_url: str, use: str,
                     reference: dict[str, Any]) -> None:
    sc = Scenario(tmp_path / "s", db_url, module=True, extra_push=module_toml(use=use))
    try:
        sc.sandbox.denied_resources = ("Segbridge_SegmentBlock::api",)
        sc.sync_evaluate()
        if use == "on":
            from bridge.push.bulk import ModuleRequired

            with pytest.raises(ModuleRequired, match="lack its ACL resource"):
                sc.push()
            assert sc.writes() == 0
            return
        assert sc.push().exit_code == EXIT_OK
        assert sc.sandbox.stats.get(*CUSTOMER_PUT) == reference["moved"]
        assert shop_state(sc.shop) == reference["state"]
    finally:
        sc.close()


def test_a_request_refused_whole_falls_back_to_the_puts(
        scenario: Scenario, reference: dict[str, Any]) -> None:
    sc = scenario
    sc.shop.module.max_group_assignments = 20
    sc.sync_evaluate()

    from bridge.push import bulk

    real = bulk.choose_module

    def lower_after_detection(client: Any, cfg: Any) -> Any:
        choice = real(client, cfg)
        sc.shop.module.max_group_assignments = 10  # the route now refuses 20 with a 400
        return choice

    mp = pytest.MonkeyPatch()
    from bridge.push import service

    mp.setattr(service, "choose_module", lower_after_detection)
    try:
        sc.sandbox.stats.reset()
        result = sc.push()
    finally:
        mp.undo()
    assert result.exit_code == EXIT_OK, result.summary()
    # the requests of 20 were refused whole and went one PUT each; a last one of at most
    # 10 still went through the route
    moved = reference["moved"]
    refused = moved - moved % 20 if moved % 20 <= 10 else moved
    assert sc.sandbox.stats.get(*CUSTOMER_PUT) == refused > 0
    assert shop_state(sc.shop) == reference["state"]


@pytest.mark.parametrize("fault", ["500", "lost_answer"])
def test_a_request_failing_after_its_retries_falls_back(
        scenario: Scenario, reference: dict[str, Any], fault: str) -> None:
    from bridge.sandbox.server import Faults

    sc = scenario
    sc.sync_evaluate()
    sc.sandbox.set_faults(Faults.only(fault, 1.0, routes=("/V1/segbridge/groupAssignments",)))
    result = sc.push()
    assert result.exit_code == EXIT_OK, result.summary()
    assert sc.sandbox.stats.get(*BULK) >= 1
    assert shop_state(sc.shop) == reference["state"]
    sc.sandbox.set_faults(Faults())
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan is not None and again.plan.size == 0 and sc.writes() == 0


def test_a_throttled_store_stops_the_push_and_the_next_finishes_it(
        scenario: Scenario, reference: dict[str, Any]) -> None:
    from bridge.push.context import PushAborted
    from bridge.sandbox.server import Faults

    sc = scenario
    sc.sync_evaluate()
    sc.sandbox.set_faults(Faults.only("429", 1.0, retry_after_s=0,
                                      routes=("/V1/segbridge/groupAssignments",)))
    with pytest.raises(PushAborted, match="customer writes stopped"):
        sc.push()
    assert sc.sandbox.stats.get(*CUSTOMER_PUT) == 0  # not handed to the per-customer path
    sc.sandbox.set_faults(Faults())
    result = sc.push()
    assert result.exit_code == EXIT_OK and result.resumed_batches
    assert shop_state(sc.shop) == reference["state"]


def test_a_module_removed_during_the_push_leaves_the_rest_to_the_puts(
        scenario: Scenario, reference: dict[str, Any]) -> None:
    from bridge.push import bulk, service

    sc = scenario
    sc.sync_evaluate()
    real = bulk.choose_module

    def uninstall_after_detection(client: Any, cfg: Any) -> Any:
        choice = real(client, cfg)
        sc.sandbox.module = False  # the routes answer 404 "no route" from now on
        return choice

    mp = pytest.MonkeyPatch()
    mp.setattr(service, "choose_module", uninstall_after_detection)
    try:
        result = sc.push()
    finally:
        mp.undo()
    assert result.exit_code == EXIT_OK, result.summary()
    assert sc.sandbox.stats.get(*CUSTOMER_PUT) == reference["moved"]
    assert shop_state(sc.shop) == reference["state"]
