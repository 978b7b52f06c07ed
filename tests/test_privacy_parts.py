"""The privacy package's parts on their own: which fields segments read, what a sync asks
Magento for, the id sweep's search and its cost, the forgotten digests, the history purge."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from bridge.config import parse_config
from bridge.magento.search import SearchCriteria
from bridge.privacy.erase import Forgotten, digest
from bridge.privacy.keep import (
    SyncPolicy,
    fields_read,
    record_kept,
    refused_segments,
    sync_policy,
)
from bridge.privacy.retention import purge_history
from bridge.privacy.sweep import MagentoIds, find_gone
from bridge.segments.loader import segments_from_dicts
from bridge.store.segment_tables import SegmentHistory
from bridge.timeutil import utcnow


def _config(**privacy: Any) -> Any:
    return parse_config({"sync": {"customer_attributes": ["loyalty_tier", "b2b_account"]},
                         "privacy": privacy}, None)


def _segments(config: Any) -> list[Any]:
    rules = [
        [{"attribute": "customer.days_until_birthday", "operator": "<=", "value": 7}],
        [{"attribute": "address.city", "operator": "==", "value": "Oslo",
          "address_type": "default_billing"},
         {"attribute": "customer.attribute.loyalty_tier", "operator": "==", "value": "gold"}],
        [{"attribute": "sales.order_address.country_id", "operator": "==", "value": "SE"},
         {"attribute": "customer.email", "operator": "{}", "value": "@example.com"},
         {"attribute": "customer.group", "operator": "==", "value": "General"}],
    ]
    data = [{"code": f"s{i}", "name": f"S {i}", "conditions": {"rules": r}}
            for i, r in enumerate(rules)]
    data.append({"code": "off", "name": "Off", "active": False, "conditions": {"rules": [
        {"attribute": "customer.lastname", "operator": "==", "value": "x"}]}})
    return segments_from_dicts(data, config)


def test_fields_read_are_the_personal_fields_of_active_segments_and_the_opt_out() -> None:
    config = _config(opt_out_attribute="no_profiling")
    got = fields_read(_segments(config), config)
    # identity (email, group) is always kept, so not "read"; an inactive segment reads nothing
    assert got == {
        "customers": frozenset({"dob", "address.city", "attribute.loyalty_tier",
                                "attribute.no_profiling"}),
        "orders": frozenset({"address.country_id"}),
    }


def test_a_sync_asks_magento_only_for_what_it_keeps(engine: Engine) -> None:
    config = _config(opt_out_attribute="no_profiling")
    with engine.connect() as conn:
        policy = sync_policy(conn, config, _segments(config))
    assert policy.attr_codes == ("loyalty_tier", "no_profiling")  # b2b_account: not read
    fields = policy.customer_fields()
    assert fields is not None
    assert {"id", "email", "group_id", "website_id", "updated_at", "dob"} <= set(fields)
    assert not {"firstname", "lastname", "taxvat", "gender"} & set(fields)
    assert "addresses[id,city]" in fields and "custom_attributes[attribute_code,value]" in fields
    orders = policy.order_fields(("whole",))
    assert "billing_address[country_id]" in orders
    assert not any("firstname" in f or "street" in f for f in orders)
    # a fresh store holds nothing yet: both entities are pulled whole
    assert policy.refetch == {"customers", "orders"}
    whole = {"id": 1, "email": "a@b.c", "firstname": "Ann", "dob": "1990-01-01",
             "addresses": [{"id": 5, "city": "Oslo", "street": ["1 Road"], "telephone": "1"}],
             "extension_attributes": {"is_subscribed": True}}
    assert policy.strip("customers", whole) == {
        "id": 1, "email": "a@b.c", "dob": "1990-01-01", "addresses": [{"id": 5, "city": "Oslo"}]}
    everything = SyncPolicy(True, policy.needed, policy.kept, policy.attr_codes)
    assert everything.customer_fields() is None and everything.strip("customers", whole) == whole
    assert everything.order_fields(("whole",)) == ("whole",)


class FakeMagento:
    """Customer ids as Magento answers a search: counts and pages of ids in a range."""

    def __init__(self, ids: set[int]) -> None:
        self.ids = sorted(ids)

    def fetch(self, crit: SearchCriteria, size: int) -> Any:
        lo, hi = -math.inf, math.inf
        for (f,) in crit.filter_groups:
            assert f.field == "entity_id"
            if f.condition_type == "gteq":
                lo = max(lo, f.value)
            elif f.condition_type == "gt":
                lo = max(lo, f.value + 1)
            elif f.condition_type == "lteq":
                hi = min(hi, f.value)
        assert crit.item_fields == ("id",)  # ids only, never a record
        inside = [i for i in self.ids if lo <= i <= hi]
        return SimpleNamespace(total_count=len(inside),
                               items=[{"id": i} for i in inside[:size]])


@pytest.mark.parametrize("seed", range(6))
def test_the_sweep_finds_exactly_the_deleted_ids_in_few_requests(seed: int) -> None:
    r = random.Random(seed)
    stored = set(r.sample(range(1, 60_000), 20_000))
    deleted = set(r.sample(sorted(stored), r.choice([0, 1, 3, 25])))
    newer = {60_000 + i for i in range(50)}  # created after the sync: above every stored id
    magento = MagentoIds(FakeMagento((stored - deleted) | newer).fetch, 300)
    found = find_gone(sorted(stored), magento)
    assert found.gone == sorted(deleted)
    assert found.seen == len(stored) - len(deleted)
    depth = math.ceil(math.log2(len(stored) / 300)) + 1
    assert found.requests <= 1 + len(deleted) * (depth + 1), found.requests
    if not deleted:
        assert found.requests == 1


def test_the_sweep_with_ids_magento_has_and_the_store_does_not() -> None:
    """Quarantined ids are added to the store's side; a forgotten customer (not known to
    the store) is an extra that can only hide a deletion, never invent one."""
    stored = list(range(1, 5001))
    extra = {2500}  # in Magento, not in the store's list
    store_side = [i for i in stored if i != 2500]
    deleted = {17, 4000}
    magento = MagentoIds(FakeMagento((set(stored) - deleted) | extra).fetch, 300)
    found = find_gone(store_side, magento)
    assert set(found.gone or []) <= deleted


def test_forgotten_digests_keep_records_out_and_hold_nothing_readable() -> None:
    d_id, d_mail = digest("id", 42), digest("email", " Ann@Example.COM ")
    assert d_mail == digest("email", "ann@example.com") and len(d_id) == 64
    assert "42" not in d_id and "ann" not in d_mail
    gone = Forgotten(frozenset({d_id}), frozenset({d_mail}))
    assert gone.keeps_out("customers", {"id": 42, "email": "x@y.z"})
    assert gone.keeps_out("customers", {"id": 7, "email": "ANN@example.com"})
    assert not gone.keeps_out("customers", {"id": 7, "email": "bob@example.com"})
    assert gone.keeps_out("orders", {"entity_id": 1, "customer_id": "42"})
    assert gone.keeps_out("orders", {"entity_id": 1, "customer_id": None,
                                     "customer_email": "ann@example.com"})
    assert gone.keeps_out("carts", {"id": 3, "customer": {"id": 42}})
    assert not gone.keeps_out("carts", {"id": 3, "customer": {"id": 43}})
    assert not Forgotten(frozenset(), frozenset())


def test_purge_history_deletes_only_rows_older_than_the_cutoff(engine: Engine) -> None:
    h = SegmentHistory.__table__
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(h), [
            {"segment_code": "a", "customer_id": i, "event": "joined",
             "at": now - timedelta(days=d)} for i, d in enumerate((1, 29, 31, 400))])
        assert purge_history(conn, 30, now) == 2
        assert purge_history(conn, 30, now) == 0
        left = sorted(conn.execute(select(h.c.customer_id)).scalars())
    assert left == [0, 1]


def test_a_segment_using_one_that_reads_an_unkept_field_is_refused_too(engine: Engine) -> None:
    """The refusal follows `segment` conditions through any depth; a segment reading only
    what is kept, and one using it, are evaluated."""
    config = _config()
    birthday = [{"attribute": "customer.days_until_birthday", "operator": "<=", "value": 7}]
    general = [{"attribute": "customer.group", "operator": "==", "value": "General"}]

    def uses(code: str) -> list[dict[str, Any]]:
        return [{"attribute": "segment", "operator": "()", "value": [code]}]

    segs = segments_from_dicts([
        {"code": "bday", "name": "B", "conditions": {"rules": birthday}},
        {"code": "mid", "name": "M", "conditions": {"rules": uses("bday")}},
        {"code": "top", "name": "T", "conditions": {"rules": uses("mid")}},
        {"code": "plain", "name": "P", "conditions": {"rules": general}},
        {"code": "onplain", "name": "O", "conditions": {"rules": uses("plain")}},
    ], config)
    with engine.begin() as conn:
        record_kept(conn, "customers", [])  # dob not held
        record_kept(conn, "orders", [])
        refused = refused_segments(conn, segs, segs)
    assert set(refused) == {"bday", "mid", "top"}
    assert "dob" in refused["bday"]
    assert "uses segment bday" in refused["mid"] and "uses segment bday" in refused["top"]
