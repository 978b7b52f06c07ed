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
