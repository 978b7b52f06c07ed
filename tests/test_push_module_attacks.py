"""Hostile and careless cases of the module paths (bulk group changes, info, catalog
rules) that the main tests do not cover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_OK

pytestmark = pytest.mark.db

CUSTOMER_PUT = ("PUT", "/V1/customers/{customerId}")


@pytest.fixture
def scenario(tmp_path: Path, db_url: str) -> Iterator[Scenario]:
    sc = Scenario(tmp_path / "s", db_url, module=True)
    try:
        yield sc
    finally:
        sc.close()


def test_a_grant_revoked_during_the_push(scenario: Scenario) -> None:
    """The module's ACL resource taken away after detection: a 403 on the bulk route."""
    from bridge.push import bulk, service

    sc = scenario
    sc.sync_evaluate()
    real = bulk.choose_module

    def revoke_after_detection(client: Any, cfg: Any) -> Any:
        choice = real(client, cfg)
        sc.sandbox.denied_resources = ("Segbridge_SegmentBlock::api",)
        return choice

    mp = pytest.MonkeyPatch()
    mp.setattr(service, "choose_module", revoke_after_detection)
    try:
        result = sc.push()  # raised AuthError (exit 1) with every step left "sent"
    finally:
        mp.undo()
    assert result.exit_code == EXIT_OK, result.summary()
    assert sc.sandbox.stats.get(*CUSTOMER_PUT) > 0  # the rest went one GET and PUT each
    moved = shop_state(sc.shop)
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan is not None and again.plan.size == 0 and sc.writes() == 0
    assert shop_state(sc.shop) == moved


@pytest.mark.parametrize("use", ["auto", "on"])
def test_an_info_route_failing_after_its_retries(tmp_path: Path, db_url: str, use: str) -> None:
    """A broken module (its info route answers 500): "auto" pushes without it, "on" stops
    before any write with the one line that says the module is required. Both stopped
    with a bare ServerError before."""
    from bridge.push.bulk import ModuleRequired
    from bridge.sandbox.server import Faults

    sc = Scenario(tmp_path / "s", db_url, module=True,
                  extra_push=f'\n[module]\nuse = "{use}"\n')
    try:
        sc.sync_evaluate()
        sc.sandbox.set_faults(Faults.only("500", 1.0, routes=("/V1/segbridge/info",)))
        if use == "on":
            with pytest.raises(ModuleRequired, match="its info route failed: .*HTTP 500"):
                sc.push()
            assert sc.writes() == 0
            return
        result = sc.push()
        assert result.exit_code == EXIT_OK, result.summary()
        assert sc.sandbox.stats.get(*CUSTOMER_PUT) > 0
        assert sc.sandbox.stats.get("POST", "/V1/segbridge/groupAssignments") == 0
    finally:
        sc.close()


def test_catalog_rule_edited_by_a_person_is_not_undone(scenario: Scenario) -> None:
    """A person changes, renames and switches off a segbridge catalog rule: with nothing
    changed in the segment file, the next push writes nothing (docs/push.md)."""
    from test_push_catalog import add_catalog_rules, recorded

    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    rid = recorded(sc)["segbridge:vip:catalog:0"]
    with sc.shop.lock:
        rule = sc.shop.module.rules[rid]
        rule.update(discount_amount=7.0, is_active=False, name="VIP prices (edited)")
        before = dict(rule)
    sc.sync_evaluate()
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.plan is not None and again.plan.size == 0 and sc.writes() == 0
    with sc.shop.lock:
        assert sc.shop.module.rules[rid] == before


@pytest.mark.parametrize("fault", ["500", "not_true", "gone"])
def test_a_failing_apply_step_does_not_hold_the_customer_moves_back(
        scenario: Scenario, fault: str) -> None:
    """Asking Magento to apply the rules fails after its retries (a 500), answers
    something else than true, or the route is gone: the push stopped there (PushAborted,
    or the raw error), before any customer was moved. Now the customers are moved, the
    push is partial (exit 3, one refused line), and the next push asks again, once."""
    from test_push_catalog import APPLY, add_catalog_rules

    from bridge.push import command
    from bridge.sandbox.server import Faults

    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    mp = pytest.MonkeyPatch()
    if fault == "500":
        sc.sandbox.set_faults(Faults.only("500", 1.0,
                                          routes=("/V1/segbridge/catalogRules/apply",)))
    else:
        from bridge.magento.client import MagentoClient

        real = MagentoClient._write

        def hostile(self: Any, method: str, path: str, *a: Any, **k: Any) -> Any:
            if path.endswith("/catalogRules/apply"):
                if fault == "gone":
                    from bridge.magento.errors import RouteMissingError

                    raise RouteMissingError("Request does not match any route.",
                                            route=path)
                return {"applied": "maybe"}
            return real(self, method, path, *a, **k)

        mp.setattr(MagentoClient, "_write", hostile)
    try:
        result = sc.push()
    finally:
        mp.undo()
    assert result.exit_code == 3, result.summary()
    assert [r["kind"] for r in result.refused] == ["catalog_rules_apply"]
    assert sc.sandbox.stats.get("POST", "/V1/segbridge/groupAssignments") >= 1
    assert sc.shop.module.rules_applied == 0
    line = [x for x in command.push_lines(result) if x.startswith("refused:")]
    assert len(line) == 1 and line[0].startswith("refused: catalog rules (Apply Rules): "
                                                  "failed: "), line
    moved = shop_state(sc.shop)
    sc.sandbox.set_faults(Faults())
    sc.sandbox.stats.reset()
    again = sc.push()
    assert again.exit_code == EXIT_OK and again.resumed_batches, again.summary()
    assert sc.sandbox.stats.get(*APPLY) == 1 and sc.shop.module.rules_applied == 1
    assert shop_state(sc.shop) == moved
    sc.sandbox.stats.reset()
    third = sc.push()
    assert third.plan is not None and third.plan.size == 0 and sc.writes() == 0


def test_plan_text_shows_rule_names_as_typed(scenario: Scenario,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A rule name holding Rich markup: ``[/]`` crashed ``plan`` (MarkupError) and
    ``[bold]`` was rendered; both now show as typed, and ``--json`` keeps the name."""
    import json

    from test_push_catalog import add_catalog_rules

    from bridge.cli import main

    sc = scenario
    add_catalog_rules(sc, second=False)
    vip = sc.mappings / "vip.toml"
    vip.write_text(vip.read_text().replace('name = "VIP prices"',
                                           'name = "VIP [/] [bold]prices[/bold]"'))
    sc.sync_evaluate()
    capsys.readouterr()
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "200")  # one table row a line
    try:
        assert main(["--config", str(sc.config_path), "plan"]) == EXIT_OK
    finally:
        mp.undo()
    out = capsys.readouterr().out
    assert "VIP [/] [bold]prices[/bold]" in out, out
    assert main(["--config", str(sc.config_path), "--json", "plan"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["catalog_rules"]] == ["VIP [/] [bold]prices[/bold]"]
    assert all(r["rule_id"] is None and r["skus"] == [] for r in data["catalog_rules"])


def test_a_rule_that_cannot_be_switched_off_is_refused_not_a_crash(
        scenario: Scenario) -> None:
    """A dropped entry's rule as the store holds it cannot be written back (here a
    negative sort_order, which the client refuses to send): the push raised the raw
    InvalidRequestError before any customer moved, and the open batch raised it again at
    every later push. Now that step is refused (exit 3) and everything else goes on."""
    from test_push_catalog import add_catalog_rules, recorded

    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    rid = recorded(sc)["segbridge:vip:catalog:1"]
    with sc.shop.lock:
        sc.shop.module.rules[rid]["sort_order"] = -1
    add_catalog_rules(sc, second=False)
    result = sc.push()
    assert result.exit_code == 3, result.summary()
    assert [(r["kind"], r["key"]) for r in result.refused] == [
        ("catalog_rule", "segbridge:vip:catalog:1")]
    assert "sort_order must be 0 or more" in result.refused[0]["message"]
    assert not result.resumed_batches
    again = sc.push()  # nothing left open: the next push is not stopped by it
    assert again.exit_code in (EXIT_OK, 3) and not again.resumed_batches, again.summary()


def test_a_cart_rule_the_store_refuses_to_switch_off_is_refused_not_a_crash(
        tmp_path: Path, db_url: str) -> None:
    """The same for a cart rule: a 400 on the PUT that switches a dropped entry's rule off
    raised out of the push (and again at every later push, from the open batch)."""
    from bridge.magento.client import MagentoClient
    from bridge.magento.errors import ContractError

    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        assert sc.push().exit_code == EXIT_OK
        vip = sc.mappings / "vip.toml"
        vip.write_text(vip.read_text().split('\n[[cart_rules]]\nname = "VIP free shipping"')[0])
        real = MagentoClient.update_sales_rule

        def refuse(self: Any, rule_id: int, rule: dict[str, Any]) -> Any:
            if rule.get("is_active") is False:
                raise ContractError("The rule cannot be saved.", status=400,
                                    method="PUT", route="/V1/salesRules/{ruleId}")
            return real(self, rule_id, rule)

        mp = pytest.MonkeyPatch()
        mp.setattr(MagentoClient, "update_sales_rule", refuse)
        try:
            result = sc.push()
        finally:
            mp.undo()
        assert result.exit_code == 3, result.summary()
        assert [r["kind"] for r in result.refused] == ["cart_rule"]
        assert "could not be switched off" in result.refused[0]["message"]
        again = sc.push()
        assert again.exit_code == EXIT_OK and not again.resumed_batches, again.summary()
    finally:
        sc.close()


@pytest.mark.parametrize("change", ["update", "deactivate"])
def test_a_rule_answer_that_is_not_the_module_s_is_refused_not_a_crash(
        scenario: Scenario, change: str) -> None:
    """GET of a recorded catalog rule answers something that is not a rule: that step is
    refused (exit 3); it raised ModuleAnswerError out of the push, before the customers."""
    from test_push_catalog import add_catalog_rules, recorded

    from bridge.magento.client import MagentoClient

    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    assert sc.push().exit_code == EXIT_OK
    rid = recorded(sc)["segbridge:vip:catalog:1"]
    if change == "update":
        add_catalog_rules(sc, amount=25)
    else:
        add_catalog_rules(sc, second=False)
    real = MagentoClient._get

    def hostile(self: Any, path: str, *a: Any, **k: Any) -> Any:
        if path == "/V1/segbridge/catalogRules/{ruleId}" and k.get("ruleId") == rid:
            return {"rule_id": rid, "name": "\x1b[2J"}
        return real(self, path, *a, **k)

    mp = pytest.MonkeyPatch()
    mp.setattr(MagentoClient, "_get", hostile)
    try:
        result = sc.push()
    finally:
        mp.undo()
    assert result.exit_code == 3, result.summary()
    assert [(r["kind"], r["key"]) for r in result.refused] == [
        ("catalog_rule", "segbridge:vip:catalog:1")]
    assert "is not a catalog rule" in result.refused[0]["message"]
    assert not sc.push().resumed_batches


@pytest.mark.parametrize("how", ["gone", "revoked"])
def test_catalog_routes_lost_during_the_push_refuse_their_steps_not_the_push(
        scenario: Scenario, how: str) -> None:
    """The module removed (404 "no route") or its grant revoked (401) after detection:
    the catalog rule steps are refused (exit 3) and the customers still moved; both
    raised out of the push before the customers, again at every push from the open
    batch."""
    from test_push_catalog import add_catalog_rules

    from bridge.push import bulk, service

    sc = scenario
    add_catalog_rules(sc)
    sc.sync_evaluate()
    real = bulk.choose_module

    def lose_after_detection(client: Any, cfg: Any) -> Any:
        choice = real(client, cfg)
        if how == "gone":
            sc.sandbox.module = False
        else:
            sc.sandbox.denied_resources = ("Segbridge_SegmentBlock::api",)
        return choice

    mp = pytest.MonkeyPatch()
    mp.setattr(service, "choose_module", lose_after_detection)
    try:
        result = sc.push()
    finally:
        mp.undo()
    assert result.exit_code == 3, result.summary()
    assert sorted(r["key"] for r in result.refused) == [
        "segbridge:vip:catalog:0", "segbridge:vip:catalog:1"]
    assert sc.sandbox.stats.get(*CUSTOMER_PUT) > 0  # the customers were moved
    assert not sc.shop.module.rules_applied
