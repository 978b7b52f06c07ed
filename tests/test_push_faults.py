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


def _planned_customers(sc: Scenario) -> list[int]:
    from bridge.push.remote import Remote
    from bridge.push.service import build_plan, live_groups

    with sc.client(read_only=True) as c:
        plan = build_plan(sc.engine, sc.config, sc.segments(), live_groups(Remote(c)))
    return [ch.customer_id for ch in plan.changes]


def test_one_customer_failing_after_retries_is_quarantined_and_the_rest_go_on(
    tmp_path: Path, db_url: str
) -> None:
    """docs/push.md "one bad record never blocks the rest": a customer whose PUT answers a
    masked 500 every time is quarantined (exit 3, listed by status); the others are
    moved; the next push tries it again and, once it saves, resolves the quarantine."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bridge.errors import EXIT_PARTIAL
    from bridge.status import collect_status
    from bridge.store.models import Quarantine

    sc = Scenario(tmp_path / "s", db_url, write_concurrency=2)
    try:
        sc.sync_evaluate()
        planned = _planned_customers(sc)
        assert len(planned) >= 10
        bad = planned[len(planned) // 3]
        sc.sandbox.set_faults(Faults(poison_customer_ids=(bad,)))
        groups_before = {c: sc.shop.customers.get(c).group_id for c in planned}
        before = groups_before[bad]
        result = sc.push()
        assert result.exit_code == EXIT_PARTIAL
        assert [r["customer_id"] for r in result.refused] == [bad]
        assert "failed after retries" in result.refused[0]["message"]
        assert "Report ID" in result.refused[0]["message"]
        assert sc.sandbox.stats.snapshot()["faults"]["poison"] >= 2  # retried first
        moved = [c for c in planned if sc.shop.customers.get(c).group_id != groups_before[c]]
        assert moved == [c for c in planned if c != bad]  # every other one got through
        assert sc.shop.customers.get(bad).group_id == before
        assert not open_batches(sc.engine)  # nothing left hanging: the batch is closed
        status = collect_status(sc.engine)
        listed = [r["record_id"] for r in status["quarantine"]["records"]]
        assert listed == [str(bad)] and status["quarantine"]["open"] == 1

        again = sc.push()  # still failing: still one open quarantine row, not two
        assert again.exit_code == EXIT_PARTIAL
        assert [r["customer_id"] for r in again.refused] == [bad]
        assert collect_status(sc.engine)["quarantine"]["open"] == 1

        sc.sandbox.set_faults(Faults())  # the record saves again
        last = sc.push()
        assert last.exit_code == EXIT_OK and last.states["done"] == 1
        assert sc.shop.customers.get(bad).group_id != before
        assert collect_status(sc.engine)["quarantine"]["open"] == 0
        with Session(sc.engine) as s:
            rows = s.scalars(select(Quarantine).where(Quarantine.record_id == str(bad))).all()
            assert len(rows) == 1 and rows[0].resolved_at is not None
    finally:
        sc.close()


def test_a_store_failing_every_customer_write_stops_the_push(
    tmp_path: Path, db_url: str
) -> None:
    """Every PUT failing is the store, not a record: the push stops after a few in a row
    (quarantined), the journal keeps the rest, and the next push finishes the job."""
    from bridge.push.context import PushAborted

    expected = _clean_state(tmp_path / "clean")
    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        planned = _planned_customers(sc)
        assert len(planned) > 20
        sc.sandbox.set_faults(Faults(rate_500=1.0, methods=("PUT",)))
        with pytest.raises(PushAborted, match="10 customer writes in a row failed"):
            sc.push()
        assert open_batches(sc.engine)  # the rest is still in the journal
        puts = sc.sandbox.stats.get("PUT", "/V1/customers/{customerId}")
        assert puts < 10 * 5  # stopped early: 10 customers' retries, not all of them
        sc.sandbox.set_faults(Faults())
        outcomes = [sc.push().exit_code for _ in range(2)]
        assert outcomes[-1] == EXIT_OK and not open_batches(sc.engine)
        assert shop_state(sc.shop) == expected
    finally:
        sc.close()


def _open_quarantine(sc: Scenario) -> list[tuple[str, str]]:
    from bridge.status import collect_status

    return sorted((r["entity"], r["record_id"])
                  for r in collect_status(sc.engine)["quarantine"]["records"])


def test_customers_already_quarantined_do_not_hold_back_the_healthy_ones(
    tmp_path: Path, db_url: str
) -> None:
    """Twelve customers that always fail, quarantined by earlier pushes: a later push
    writes every healthy change first, tries the twelve after them, and does not take
    their failing again for the store failing (exit 3, not "10 in a row" and exit 1)."""
    from test_push_kit import write_mappings

    from bridge.errors import EXIT_PARTIAL
    from bridge.push.context import PushAborted

    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        planned = _planned_customers(sc)
        bad = sorted(planned)[:12]
        sc.sandbox.set_faults(Faults(poison_customer_ids=tuple(bad)))
        try:  # not yet known to fail: ten in a row still look like the store failing
            first = sc.push()
            assert first.exit_code == EXIT_PARTIAL
        except PushAborted:
            assert sc.push().exit_code == EXIT_PARTIAL  # the journal finishes the batch
        assert {int(r) for _, r in _open_quarantine(sc)} == set(bad)

        write_mappings(sc.root, vip_threshold=300)  # more customers are due to move
        sc.sync_evaluate()
        healthy = [c for c in _planned_customers(sc) if c not in bad]
        assert len(healthy) >= 3
        before = {c: sc.shop.customers.get(c).group_id for c in healthy}
        result = sc.push()
        assert result.exit_code == EXIT_PARTIAL
        assert sorted(r["customer_id"] for r in result.refused) == sorted(bad)
        assert all(sc.shop.customers.get(c).group_id != before[c] for c in healthy)
        assert not open_batches(sc.engine)
    finally:
        sc.close()


def test_a_block_write_failing_after_retries_is_quarantined_and_customers_move(
    tmp_path: Path, db_url: str
) -> None:
    """A CMS block whose save always answers a masked 500 is refused for the push and
    listed by status (exit 3); the customer moves of the same push go on; once it saves
    again the next push writes it and resolves the quarantine."""
    from test_push_kit import write_mappings

    from bridge.errors import EXIT_PARTIAL

    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        assert sc.push().exit_code == EXIT_OK
        write_mappings(sc.root, vip_threshold=300)
        (sc.mappings / "blocks" / "vip.html").write_text("<h1>VIP {{widget type=x}}</h1>\n")
        sc.sync_evaluate()
        due = _planned_customers(sc)
        assert due
        before = {c: sc.shop.customers.get(c).group_id for c in due}
        sc.sandbox.set_faults(Faults(rate_500=1.0, methods=("PUT",),
                                     routes=("/V1/cmsBlock/{id}",)))
        result = sc.push()
        assert result.exit_code == EXIT_PARTIAL
        kinds = {r["kind"] for r in result.refused}
        assert kinds == {"cms_block"}
        assert all("failed after retries" in r["message"] for r in result.refused)
        assert all(sc.shop.customers.get(c).group_id != before[c] for c in due)
        assert {e for e, _ in _open_quarantine(sc)} == {"push:cms_block"}
        assert not open_batches(sc.engine)

        sc.sandbox.set_faults(Faults())
        last = sc.push()
        assert last.exit_code == EXIT_OK and not last.refused
        assert _open_quarantine(sc) == []
        with sc.shop.lock:
            assert any("widget" in (b.content or "") for b in sc.shop.blocks.values())
    finally:
        sc.close()


def test_a_quarantined_customer_deleted_in_magento_is_resolved(
    tmp_path: Path, db_url: str
) -> None:
    """A quarantined customer later deleted in Magento: the next push finds it gone and
    resolves its quarantine row, saying why, instead of leaving it open for ever."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bridge.errors import EXIT_PARTIAL
    from bridge.store.models import Quarantine

    sc = Scenario(tmp_path / "s", db_url)
    try:
        sc.sync_evaluate()
        planned = _planned_customers(sc)
        gone, kept = planned[1], planned[3]
        sc.sandbox.set_faults(Faults(poison_customer_ids=(gone, kept)))
        assert sc.push().exit_code == EXIT_PARTIAL
        assert _open_quarantine(sc) == sorted([("push:customer", str(gone)),
                                               ("push:customer", str(kept))])
        sc.shop.delete_customer(gone)
        sc.sandbox.set_faults(Faults())
        assert sc.push().exit_code == EXIT_OK
        assert _open_quarantine(sc) == []
        with Session(sc.engine) as s:
            row = s.scalars(select(Quarantine).where(Quarantine.record_id == str(gone))).one()
        assert row.resolved_at is not None
        assert row.reason.startswith("resolved: the customer no longer exists in Magento")
    finally:
        sc.close()
