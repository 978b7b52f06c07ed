"""SIGKILL a real ``segbridge push`` process at many points, then push again.

The process is killed from outside by a proxy in front of the sandbox at its k-th write
request: either before that write reaches the shop, or after the shop applied it but
before the answer got back (a lost answer). Every interruption must end, after one more
push, in exactly the state of an uninterrupted push, with no duplicate group, block,
rule or coupon; and a further push must write nothing.

There are 26 points (13 writes, each before and after it lands). Each costs a sandbox, a
sync and three pushes, so the default run, on every database, takes a representative 10
that kill each kind of write both before it is sent and after it lands: a group create
(before, after), a block (before, after), a rule (after, before), the coupon (before,
after) and the customer writes (the first, before; the last, after). The full sweep:

    SEGBRIDGE_FULL_KILL=1 python -m pytest -q tests/test_push_kill.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_OK

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent

# The reference push makes 2 group creates, 3 blocks, 3 rules, 1 coupon, then customers.
# Every object write (1-9) is a point, both before and after it lands; then a spread of
# customer writes, the last one included.
OBJECT_POINTS = list(range(1, 10))
CUSTOMER_POINTS = [10, 11, 25, -1]  # -1: the very last write of the push
ALL_KILL_POINTS = [
    (k, when) for k in OBJECT_POINTS + CUSTOMER_POINTS for when in ("before", "after")
]
# groups 1-2, blocks 3-5, rules 6-8, coupon 9, customers 10 on (-1: the last write)
SUBSET_KILL_POINTS = [(1, "before"), (2, "after"), (3, "after"), (4, "before"), (6, "after"),
                      (7, "before"), (9, "before"), (9, "after"), (10, "before"), (-1, "after")]
FULL_KILL = os.environ.get("SEGBRIDGE_FULL_KILL") == "1"
KILL_POINTS = ALL_KILL_POINTS if FULL_KILL else SUBSET_KILL_POINTS


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The final state of one uninterrupted push (SQLite store; the shop state is what
    is compared, and it does not depend on the database kind)."""
    root = tmp_path_factory.mktemp("reference")
    sc = Scenario(root / "s", f"sqlite:///{root / 'ref.db'}")
    try:
        sc.sync_evaluate()
        result = sc.push()
        assert result.exit_code == EXIT_OK
        return {"state": shop_state(sc.shop), "writes": sc.writes()}
    finally:
        sc.close()


def test_reference_push_has_enough_points(reference: dict[str, Any]) -> None:
    assert reference["writes"] > max(CUSTOMER_POINTS) + 2
    state = reference["state"]
    codes = [g[0] for g in state["groups"]]
    assert len(codes) == len(set(codes))
    assert len(state["blocks"]) == 4 and len(state["rules"]) == 3 and len(state["coupons"]) == 1


@pytest.mark.parametrize(("k", "when"), KILL_POINTS, ids=[f"{w}-{k}" for k, w in KILL_POINTS])
def test_killed_push_is_finished_by_the_next(
    tmp_path: Path, db_url: str, reference: dict[str, Any], k: int, when: str
) -> None:
    sc = Scenario(tmp_path / "s", db_url, proxy=True)
    try:
        sc.sync_evaluate()
        assert sc.proxy is not None
        kill_at = reference["writes"] if k == -1 else k
        sc.proxy.arm(None, kill_at, when)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(sc.config_path), "-q", "push"],
            cwd=str(sc.root), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        sc.proxy.pid = proc.pid
        out, err = proc.communicate(timeout=120)
        assert sc.proxy.killed, f"never reached write {kill_at}: {err.decode()[-2000:]}"
        assert proc.returncode == -9

        result = sc.push()  # the next push finishes the journal, then plans afresh
        assert result.exit_code == EXIT_OK, result.summary()
        assert result.resumed_batches, "the interrupted journal was finished"
        assert shop_state(sc.shop) == reference["state"]

        sc.sandbox.stats.reset()
        again = sc.push()
        assert again.plan is not None and again.plan.size == 0
        assert sc.writes() == 0
    finally:
        sc.close()
