"""Privacy by design (docs/privacy.md), end to end against the sandbox on every database.

* ``keep = "used"``: the store's personal columns hold exactly what the active segments
  read; a segment that starts reading a new field is refused by ``evaluate`` (exit 3, one
  line saying to run ``segbridge sync``) until a sync pulls the entity whole; a field no
  segment reads any more is nulled.
* objection: a customer whose opt-out attribute says yes is in no segment, goes home on
  the next push, and ``segments``/``evaluate``/``explain`` say why.
* erasure: a customer deleted in Magento (the REST DELETE route) and one forgotten with
  ``segbridge forget`` leave no row with their id or e-mail in any table of the store
  (every table reflected); a forgotten person is not brought back by a full sync.
* access: ``segbridge subject`` prints everything held about one person.
* retention: history older than ``privacy.history_days`` is purged by a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import JSON, Engine, MetaData, String, Text, insert, select, update

from bridge.cli import main
from bridge.errors import EXIT_OK, EXIT_PARTIAL
from bridge.sandbox.server import SandboxServer
from bridge.store import models as m
from bridge.store.engine import make_engine
from bridge.store.privacy_tables import PrivacySweep
from bridge.store.segment_tables import SegmentHistory, SegmentMember
from bridge.timeutil import utcnow

pytestmark = pytest.mark.db

TOKEN_ENV = "SEGBRIDGE_PRIVACY_TEST_TOKEN"

NAMES = """
code = "named_se"
name = "Named in Sweden"
[conditions]
match = "all"
rules = [
  { attribute = "customer.firstname", operator = "!=", value = "" },
  { attribute = "address.country_id", operator = "()", value = ["SE", "DE", "GB", "US", "FR",
    "NO", "DK", "FI", "NL", "ES", "IT"] },
]
[group]
code = "Privacy Named"
"""
TIER = """
code = "tiered"
name = "Loyalty tier set, shipped somewhere"
priority = 5
[conditions]
match = "all"
rules = [
  { attribute = "customer.attribute.loyalty_tier", operator = "!=", value = "" },
  { attribute = "sales.orders_count", operator = ">=", value = 1 },
]
[group]
code = "Privacy Tier"
"""
SHIPPED = """
code = "shipped"
name = "Shipped to a city"
[conditions]
rules = [
  {attribute = "sales.order_address.city", operator = "!=", value = "", address_type = "billing"},
]
"""
LASTNAME = """
code = "by_lastname"
name = "Has a last name"
[conditions]
rules = [ { attribute = "customer.lastname", operator = "!=", value = "" } ]
"""


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    with SandboxServer(customers=40, seed=7) as server:
        monkeypatch.setenv(TOKEN_ENV, server.token)
        yield server


def _setup(tmp_path: Path, server: SandboxServer, db_url: str, files: dict[str, str],
           privacy: str = "") -> Path:
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    for old in mappings.glob("*.toml"):
        old.unlink()
    for name, text in files.items():
        (mappings / f"{name}.toml").write_text(text)
    path = tmp_path / "segbridge.toml"
    path.write_text(
        f'[magento]\nbase_url = "{server.base_url}"\npage_size = 20\n'
        f'[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "{db_url}"\n'
        '[sync]\nsince = "3650d"\n'
        'customer_attributes = ["loyalty_tier", "preferred_language", "b2b_account"]\n'
        f'[privacy]\n{privacy}\n'
        f'[mappings]\ndir = "{mappings.as_posix()}"\n'
    )
    return path


def cli(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _non_null(engine: Engine, table: Any, column: str) -> int:
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(
            table.c[column].is_not(None))).scalar_one())


PERSONAL = ("firstname", "lastname", "middlename", "prefix", "suffix", "taxvat", "created_in",
            "gender", "dob", "is_subscribed")
ADDRESS = ("firstname", "lastname", "company", "street", "city", "region", "region_code",
           "postcode", "country_id", "telephone", "vat_id")


def assert_columns_match(engine: Engine, customers: set[str], addresses: set[str],
                         order_addresses: set[str], attributes: set[str]) -> None:
    """Every personal column holds values exactly when an active segment reads it."""
    c, ca, oa = m.Customer.__table__, m.CustomerAddress.__table__, m.OrderAddress.__table__
    for table, names, wanted in ((c, PERSONAL, customers), (ca, ADDRESS, addresses),
                                 (oa, ADDRESS, order_addresses)):
        for name in names:
            cols = [name] + ([f"{name}_ci"] if f"{name}_ci" in table.c else [])
            for col in cols:
                held = _non_null(engine, table, col)
                if name in wanted:
                    assert held > 0, (table.name, col, "read by a segment but empty")
                else:
                    assert held == 0, (table.name, col, f"{held} values kept, none read")
    with engine.connect() as conn:
        codes = set(conn.execute(select(m.CustomerAttribute.code).distinct()).scalars())
    assert codes == attributes


def test_the_store_keeps_exactly_what_the_active_segments_read(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER, "shipped": SHIPPED},
                    'opt_out_attribute = "no_profiling"')
    shop.shop.update_customer(3, custom={"no_profiling": "0"})
    code, out, err = cli(capsys, config, "sync")
    assert code == EXIT_OK, err
    engine = make_engine(db_url)
    try:
        # the opt-out attribute is kept whatever segments read
        assert_columns_match(engine, {"firstname"}, {"country_id"}, {"city"},
                             {"loyalty_tier", "no_profiling"})
        with engine.connect() as conn:
            kept = {(e, f) for e, f in conn.execute(select(
                m.Base.metadata.tables["privacy_kept"].c.entity,
                m.Base.metadata.tables["privacy_kept"].c.field))}
        assert kept - {("customers", "-"), ("orders", "-")} == {
            ("customers", "firstname"), ("customers", "address.country_id"),
            ("customers", "attribute.loyalty_tier"), ("customers", "attribute.no_profiling"),
            ("orders", "address.city")}
        code, out, err = cli(capsys, config, "evaluate")
        assert code == EXIT_OK, err

        # a new segment reads a field the store does not hold: refused until a sync
        _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER, "shipped": SHIPPED,
                                        "last": LASTNAME}, 'opt_out_attribute = "no_profiling"')
        code, out, err = cli(capsys, config, "--json", "evaluate")
        assert code == EXIT_PARTIAL, err
        lines = [x for x in err.splitlines() if "by_lastname" in x]
        assert len(lines) == 1 and "run `segbridge sync`" in lines[0], err
        assert set(json.loads(out)) == {"named_se", "tiered", "shipped"}
        code, out, err = cli(capsys, config, "--json", "sync")
        assert code == EXIT_OK, err
        assert json.loads(out)["entities"]["customers"]["mode"] == "full"
        assert json.loads(out)["entities"]["orders"]["mode"] == "incremental"
        assert_columns_match(engine, {"firstname", "lastname"}, {"country_id"}, {"city"},
                             {"loyalty_tier", "no_profiling"})
        code, out, err = cli(capsys, config, "--json", "evaluate")
        assert code == EXIT_OK, err
        assert json.loads(out)["by_lastname"]["members"] > 0

        # segments stop reading fields: they are nulled by the next sync, no refetch
        _setup(tmp_path, shop, db_url, {"last": LASTNAME}, "")
        code, out, err = cli(capsys, config, "--json", "sync")
        assert code == EXIT_OK, err
        assert json.loads(out)["entities"]["customers"]["mode"] == "incremental"
        assert_columns_match(engine, {"lastname"}, set(), set(), set())

        # keep = "all": everything, after a full pull
        _setup(tmp_path, shop, db_url, {"last": LASTNAME}, 'keep = "all"')
        code, out, err = cli(capsys, config, "--json", "sync")
        assert code == EXIT_OK, err
        assert json.loads(out)["entities"]["customers"]["mode"] == "full"
        assert _non_null(engine, m.Customer.__table__, "firstname") > 0
        assert _non_null(engine, m.CustomerAddress.__table__, "city") > 0
        assert _non_null(engine, m.OrderAddress.__table__, "postcode") > 0
    finally:
        engine.dispose()


# --- erasure ---------------------------------------------------------------------------------


def scan_for(engine: Engine, customer_id: int, texts: list[str]) -> list[str]:
    """Every place in every table of the store (reflected) that holds the customer's id
    in a column naming a customer, or one of ``texts`` (without case) anywhere."""
    meta = MetaData()
    meta.reflect(engine)
    found: list[str] = []
    wanted = [t.casefold() for t in texts if t]
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            for row in conn.execute(select(table)):
                for col, value in row._mapping.items():
                    if value is None:
                        continue
                    names_customer = col in ("customer_id", "guest_customer_id") or (
                        name == "customers" and col == "id") or (
                        name == "quarantine" and col == "record_id")
                    if names_customer and str(value) == str(customer_id):
                        found.append(f"{name}.{col}")
                    column = table.c[col]
                    if isinstance(column.type, String | Text | JSON) or isinstance(value, str):
                        text = (json.dumps(value, default=str) if not isinstance(value, str)
                                else value).casefold()
                        found += [f"{name}.{col} (text)" for t in wanted if t in text]
    return found


def _person(server: SandboxServer) -> tuple[int, str]:
    """A customer with orders and an active cart."""
    shop = server.shop
    with shop.lock:
        carts = {q.customer_id for q in shop.carts.values() if q.is_active and q.customer_id}
        for c in shop.customers.values():
            if c.id in carts and shop.orders_by_customer.get(c.id):
                return c.id, c.email
    raise AssertionError("no customer with orders and a cart")


def test_a_customer_deleted_in_magento_leaves_no_trace_after_a_run(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER})
    cid, email = _person(shop)
    code, out, err = cli(capsys, config, "run")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    engine = make_engine(db_url)
    try:
        assert scan_for(engine, cid, [email]), "the customer should be in the store first"
        answer = requests.delete(f"{shop.base_url}/rest/all/V1/customers/{cid}",
                                 headers={"Authorization": f"Bearer {shop.token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        # an incremental run inside the sweep interval does not look
        code, out, err = cli(capsys, config, "run")
        assert code in (EXIT_OK, EXIT_PARTIAL), err
        assert scan_for(engine, cid, [email])
        # a day later it does: one count request finds the range short, then bisects
        with engine.begin() as conn:
            sweeps = PrivacySweep.__table__
            conn.execute(update(sweeps).values(started_at=utcnow() - timedelta(days=2)))
        code, out, err = cli(capsys, config, "--json", "run")
        assert code in (EXIT_OK, EXIT_PARTIAL), err
        sweep = json.loads(out)["sync"]["entities"]["sweep"]
        assert sweep["deleted"] == 1 and 1 <= sweep["other_requests"] <= 12, sweep
        assert scan_for(engine, cid, [email]) == []
        with engine.connect() as conn:
            row = conn.execute(select(PrivacySweep.__table__).order_by(
                PrivacySweep.__table__.c.id.desc())).first()
        assert row is not None and row.erased == 1 and row.requests == sweep["other_requests"]
    finally:
        engine.dispose()


def test_a_full_sync_erases_a_customer_magento_deleted_orders_and_all(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Magento keeps a deleted customer's orders without a customer: the full sync reads
    them back as guest orders, and the same run erases them with the customer."""
    config = _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER})
    cid, email = _person(shop)
    code, out, err = cli(capsys, config, "run")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    shop.shop.delete_customer(cid)
    code, out, err = cli(capsys, config, "--json", "resync")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    assert json.loads(out)["sync"]["entities"]["customers"]["deleted"] == 1
    engine = make_engine(db_url)
    try:
        assert scan_for(engine, cid, [email]) == []
    finally:
        engine.dispose()


def test_forget_erases_a_person_now_and_a_full_sync_does_not_bring_them_back(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER})
    cid, email = _person(shop)
    code, out, err = cli(capsys, config, "run")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    engine = make_engine(db_url)
    try:
        code, out, err = cli(capsys, config, "subject", email.upper())
        assert code == EXIT_OK, err
        held = json.loads(out)
        assert [a["fields"]["id"] for a in held["customers"]] == [cid]
        account = held["customers"][0]
        assert account["fields"]["email"] == email and account["orders"] and account["carts"]
        assert held["forgotten"] is False

        code, out, err = cli(capsys, config, "forget", email, "--yes")
        assert code == EXIT_OK, err
        assert email not in out + err and f"customer(s) {cid}" in out
        assert scan_for(engine, cid, [email]) == []
        code, out, err = cli(capsys, config, "subject", str(cid))
        assert json.loads(out)["customers"] == [] and json.loads(out)["forgotten"] is True

        code, out, err = cli(capsys, config, "resync")
        assert code in (EXIT_OK, EXIT_PARTIAL), err
        assert scan_for(engine, cid, [email]) == []
        with engine.connect() as conn:
            digests = conn.execute(select(m.Base.metadata.tables["privacy_forgotten"])).all()
        assert len(digests) == 2 and all(len(d.digest) == 64 for d in digests)
    finally:
        engine.dispose()


def test_forget_asks_first_unless_told_yes(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES})
    code, out, err = cli(capsys, config, "forget", "5")
    assert code == 2 and "--yes" in err
    code, out, err = cli(capsys, config, "forget", "  ", "--yes")
    assert code == 2


# --- objection ------------------------------------------------------------------------------


def test_a_customer_who_objects_is_in_no_segment_and_goes_home(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES, "tier": TIER},
                    'opt_out_attribute = "no_profiling"')
    code, out, err = cli(capsys, config, "run")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            member = conn.execute(select(SegmentMember.customer_id).where(
                SegmentMember.segment_code == "named_se").order_by(
                SegmentMember.customer_id)).scalars().first()
        assert member is not None
        home = shop.shop.customers.get(member)
        assert home is not None
        shop.shop.update_customer(member, custom={"no_profiling": "Yes"})
        code, out, err = cli(capsys, config, "--json", "run")
        assert code in (EXIT_OK, EXIT_PARTIAL), err
        with engine.connect() as conn:
            still = conn.execute(select(SegmentMember.segment_code).where(
                SegmentMember.customer_id == member)).scalars().all()
        assert still == []
        groups = {g.id: g.code for g in shop.shop.groups.values()}
        assert groups[shop.shop.customers.get(member).group_id] not in (
            "Privacy Named", "Privacy Tier")
        code, out, err = cli(capsys, config, "segments")
        assert "1 customer objected to profiling" in out, out
        code, out, err = cli(capsys, config, "evaluate")
        assert "1 customer objected to profiling" in out, out
        code, out, err = cli(capsys, config, "explain", "named_se", str(member))
        assert code == EXIT_OK, err
        assert "objected to profiling" in out and "is NOT a member" in out, out
    finally:
        engine.dispose()


# --- retention ------------------------------------------------------------------------------


def test_a_run_purges_history_older_than_history_days(
    tmp_path: Path, shop: SandboxServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, shop, db_url, {"named": NAMES}, "history_days = 30")
    code, out, err = cli(capsys, config, "run")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    engine = make_engine(db_url)
    h = SegmentHistory.__table__
    try:
        now = utcnow()
        with engine.begin() as conn:
            kept = conn.execute(select(h.c.id)).scalars().all()
            conn.execute(insert(h), [
                {"segment_code": "named_se", "customer_id": 1, "event": "joined",
                 "at": now - timedelta(days=31 + i)} for i in range(3)])
            conn.execute(insert(h), [{"segment_code": "named_se", "customer_id": 2,
                                      "event": "left", "at": now - timedelta(days=29)}])
        code, out, err = cli(capsys, config, "run")
        assert code in (EXIT_OK, EXIT_PARTIAL), err
        with engine.connect() as conn:
            ats = conn.execute(select(h.c.at)).scalars().all()
        assert len(ats) >= len(kept) + 1
        assert all(at >= now - timedelta(days=30) for at in ats)
    finally:
        engine.dispose()
