"""SIGKILL a real ``segbridge push`` on the bulk path at every point, then push again.

The shop has the storefront module and accepts at most 20 assignments a request, so the
reference push's 41 group changes go in three requests (20, 20, 1) after its 9 object
writes. The points, for each request n (1-3):

- ``sent-before`` / ``sent-uncommitted`` / ``sent-after``: around the store transaction
  that marks the request's steps ``sent`` (uncommitted: killed inside it);
- ``http-before``: the request reaches the proxy in front of the shop, never the shop;
- ``http-after``: the shop applied it and the process dies before the answer (lost);
- ``persist-before`` / ``persist-uncommitted`` / ``persist-after``: around the transaction
  that records its answer (after: between requests);

plus ``detect-after`` (the module found, nothing planned) and ``close-before`` /
``close-after`` (the batch closed): 27 points. The ``http`` kills come from the proxy
(test_push_kit.KillProxy), the others from ``tests/bulk_kill_wrap.py``, which runs
segbridge and SIGKILLs its own process at the named call; nothing in segbridge knows.

Every point must end, after one more push, in exactly the shop state of an uninterrupted
push without the module (the per-customer path), with no customer's group written twice
(the sandbox counts each customer's group changes) and a further push writing nothing.
Each point costs a sandbox, a sync and three pushes (one in a new process), so the default
run, on every database, takes a spread of 12 that holds each of the 11 kinds of point and
each of the 3 requests: the first request's kills around ``sent`` and its answer, the second's
around ``persist`` and the third's lost answer. The full sweep of 27:

    SEGBRIDGE_FULL_KILL=1 python -m pytest -q tests/test_push_bulk_kill.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_push_kit import Scenario, shop_state

from bridge.errors import EXIT_OK

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent
WRAP = REPO / "tests" / "bulk_kill_wrap.py"
CHUNK = 20
REQUESTS = 3
OBJECT_WRITES = 9  # 2 groups, 3 blocks, 3 rules, 1 coupon, before any customer
PER_REQUEST = ("sent-before", "sent-uncommitted", "sent-after", "http-before", "http-after",
               "persist-before", "persist-uncommitted", "persist-after")
ALL_POINTS = ([("detect-after", 1)]
              + [(p, n) for n in range(1, REQUESTS + 1) for p in PER_REQUEST]
              + [("close-before", 1), ("close-after", 1)])
SUBSET = [("detect-after", 1), ("sent-before", 2), ("sent-uncommitted", 1), ("sent-after", 3),
          ("http-before", 1), ("http-after", 1), ("persist-before", 2),
          ("persist-uncommitted", 2), ("persist-after", 2), ("http-after", 3),
          ("close-before", 1), ("close-after", 1)]
FULL = os.environ.get("SEGBRIDGE_FULL_KILL") == "1"
POINTS = ALL_POINTS if FULL else SUBSET


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted push on a store without the module, and one with it."""
    root = tmp_path_factory.mktemp("bulk-kill-ref")
    out: dict[str, Any] = {}
    for module in (False, True):
        sc = Scenario(root / f"s{module}", f"sqlite:///{root / f'{module}.db'}", module=module)
        try:
            sc.shop.module.max_group_assignments = CHUNK
            sc.sync_evaluate()
            sc.sandbox.stats.reset()
            moved = count_group_writes(sc.shop)
            result = sc.push()
            assert result.exit_code == EXIT_OK
            out[module] = {"state": shop_state(sc.shop), "writes": sc.writes(),
                           "bulk": sc.sandbox.stats.get("POST", "/V1/segbridge/groupAssignments"),
                           "moved": moved}
        finally:
            sc.close()
    return out


def test_the_reference_has_every_point(reference: dict[str, Any]) -> None:
    with_module, without = reference[True], reference[False]
    assert with_module["state"] == without["state"]
    assert with_module["bulk"] == REQUESTS
    assert with_module["writes"] == OBJECT_WRITES + REQUESTS
    assert sum(with_module["moved"].values()) == 41 and max(with_module["moved"].values()) == 1
    assert len(ALL_POINTS) == 27
    # the default spread holds every kind of point and every request
    assert {p for p, _ in SUBSET} == {p for p, _ in ALL_POINTS}
    assert {n for _, n in SUBSET} == set(range(1, REQUESTS + 1))
    assert set(SUBSET) <= set(ALL_POINTS)


def count_group_writes(shop: Any) -> Counter[int]:
    """Each customer's group changes made in the shop from now on by the module's route
    (a customer PUT saves the customer another way)."""
    writes: Counter[int] = Counter()
    real = shop.update_customer

    def update_customer(cid: int, **fields: Any) -> Any:
        if "group_id" in fields:
            writes[int(cid)] += 1
        return real(cid, **fields)

    shop.update_customer = update_customer
    return writes


@pytest.mark.parametrize(("point", "n"), POINTS, ids=[f"{p}-{n}" for p, n in POINTS])
def test_killed_bulk_push_is_finished_by_the_next(
        tmp_path: Path, db_url: str, reference: dict[str, Any], point: str, n: int) -> None:
    sc = Scenario(tmp_path / "s", db_url, proxy=True, module=True)
    try:
        sc.shop.module.max_group_assignments = CHUNK
        sc.sync_evaluate()
        writes = count_group_writes(sc.shop)
        assert sc.proxy is not None
        push = ["--config", str(sc.config_path), "-q", "push"]
        if point.startswith("http-"):
            sc.proxy.arm(None, OBJECT_WRITES + n, point.removeprefix("http-"))
            argv = [sys.executable, "-m", "bridge", *push]
        else:
            argv = [sys.executable, str(WRAP), point, str(n), "--", *push]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(argv, cwd=str(sc.root), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        sc.proxy.pid = proc.pid
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -9, f"not killed at {point} {n}: {err.decode()[-2000:]}"

        result = sc.push()  # finishes the journal (if any), then plans afresh
        assert result.exit_code == EXIT_OK, result.summary()
        assert shop_state(sc.shop) == reference[False]["state"]
        # each customer of the reference moved once, in the killed push or the next
        assert writes == reference[True]["moved"], "a group written twice, or not at all"

        sc.sandbox.stats.reset()
        again = sc.push()
        assert again.plan is not None and again.plan.size == 0
        assert sc.writes() == 0
    finally:
        sc.close()
