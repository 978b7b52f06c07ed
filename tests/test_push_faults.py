"""With the sandbox misbehaving (5xx, 429, maintenance, dropped connections, answers lost
after the write landed), pushes end in exactly the state of a clean push, no duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_OK, SegbridgeError
from bridge.push.journal import open_batches
from bridge.sandbox.server import Faults

pytestmark = pytest.mark.db


def _clean_state(root: Path) -> dict:
    sc = Scenario(root, f"sqlite:///{root / 'clean.db'}")
    try:
        sc.sync_evaluate()
        assert sc.push().exit_code == EXIT_OK
        return shop_state(sc.shop)
    finally:
        sc.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_push_under_faults_ends_exact(tmp_path: Path, db_url: str, seed: int) -> None:
    expected = _clean_state(tmp_path / "clean")
    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        sc.sandbox.set_faults(Faults(
            rate_500=0.05, rate_429=0.05, rate_503=0.03, rate_drop=0.05,
            rate_lost_answer=0.1, retry_after_s=0, seed=seed,
        ))
        outcomes = []
        for _ in range(8):  # a push that runs out of retries leaves its journal to the next
            try:
                result = sc.push()
            except SegbridgeError as exc:
                outcomes.append(str(exc))
                continue
            outcomes.append(result.exit_code)
            if result.exit_code == EXIT_OK and not open_batches(sc.engine):
                break
        assert outcomes[-1] == EXIT_OK, outcomes
        faults = sc.sandbox.stats.snapshot()["faults"]
        assert sum(faults.values()) >= 5, faults  # the faults really happened
        sc.sandbox.set_faults(Faults())
        assert shop_state(sc.shop) == expected
        sc.sandbox.stats.reset()
        again = sc.push()
        assert again.plan is not None and again.plan.size == 0 and sc.writes() == 0
    finally:
        sc.close()


def test_creates_whose_answers_are_lost_are_found_not_repeated(
    tmp_path: Path, db_url: str
) -> None:
    expected = _clean_state(tmp_path / "clean")
    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        # every other create lands in the shop and its answer never comes back
        sc.sandbox.set_faults(Faults(rate_lost_answer=0.5, methods=("POST",), seed=5))
        adopted = 0
        for _ in range(8):
            try:
                result = sc.push()
            except SegbridgeError:
                continue
            adopted += sum(result.adopted.values())
            if result.exit_code == EXIT_OK and not open_batches(sc.engine):
                break
        lost = sc.sandbox.stats.snapshot()["faults"].get("lost_answer", 0)
        assert lost >= 2
        sc.sandbox.set_faults(Faults())
        assert shop_state(sc.shop) == expected  # no duplicate group, block, rule, coupon
    finally:
        sc.close()
