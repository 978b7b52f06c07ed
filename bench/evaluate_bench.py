"""Segment evaluation at scale: 20 segments over up to 1,000,000 customers.

Generates a shop straight into a store database (per 1M customers: 4M orders with one
item and one billing address each, 250k active carts with items, addresses), then times
``evaluate()`` — the first run (every membership is a join) and a second run (steady
state: nothing changed) — in a fresh child process, reporting wall time, CPU time and the
peak resident memory of that process and of the largest of the worker processes that a
big SQLite evaluation starts (two at a time). Generation time is reported apart.

    .venv/bin/python bench/evaluate_bench.py                       # 100k, 300k, 1M on SQLite
    .venv/bin/python bench/evaluate_bench.py --sizes 100000 --dbs sqlite postgresql
    .venv/bin/python bench/evaluate_bench.py --sizes 1000000 --dbs postgresql \\
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Targets: 20 segments over 1M customers in < 30 s on SQLite on a 2-core machine; time
growing no faster than linearly with the number of customers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shlex
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchinfo import machine  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

AS_OF = datetime(2026, 3, 15, 12, 0, 0)
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Twelve more segments beside the eight in mappings/: mixed attributes, periods,
# statuses, a website scope, product and order-address conditions, a reference.
EXTRA_SEGMENTS: list[dict[str, Any]] = [
    {
        "code": "big_spenders",
        "conditions": {"rules": [{"attribute": "sales.amount", "operator": ">=", "value": 2000}]},
    },
    {
        "code": "frequent",
        "conditions": {
            "rules": [
                {"attribute": "sales.orders_count", "operator": ">=", "value": 5, "period": "365d"}
            ]
        },
    },
    {
        "code": "one_timers",
        "conditions": {
            "rules": [
                {"attribute": "sales.orders_count", "operator": "==", "value": 1},
                {"attribute": "sales.days_since_first_order", "operator": ">", "value": 60},
            ]
        },
    },
    {
        "code": "shirt_buyers",
        "conditions": {
            "rules": [
                {
                    "attribute": "product.ordered",
                    "operator": "==",
                    "value": True,
                    "sku": ["TS-001", "TS-002", "TS-003"],
                    "period": "180d",
                }
            ]
        },
    },
    {
        "code": "bag_lovers",
        "conditions": {
            "rules": [
                {
                    "attribute": "product.ordered",
                    "operator": "==",
                    "value": True,
                    "name_contains": "bag",
                    "price": {"operator": ">=", "value": 50},
                }
            ]
        },
    },
    {
        "code": "billed_in_germany",
        "conditions": {
            "rules": [
                {
                    "attribute": "sales.order_address.country_id",
                    "operator": "==",
                    "value": "DE",
                    "address_type": "billing",
                    "period": "365d",
                    "status": ["complete"],
                }
            ]
        },
    },
    {
        "code": "gmail",
        "conditions": {
            "rules": [{"attribute": "customer.email", "operator": "{}", "value": "@gmail.com"}]
        },
    },
    {
        "code": "subscribed_women",
        "conditions": {
            "rules": [
                {"attribute": "customer.gender", "operator": "==", "value": "female"},
                {"attribute": "customer.is_subscribed", "operator": "==", "value": True},
            ]
        },
    },
    {
        "code": "bulk_buyers",
        "conditions": {
            "rules": [
                {
                    "attribute": "sales.qty",
                    "aggregate": "average",
                    "operator": ">=",
                    "value": 3,
                    "period": "730d",
                }
            ]
        },
    },
    {
        "code": "rich_carts",
        "conditions": {
            "match": "any",
            "value": True,
            "rules": [
                {"attribute": "cart.subtotal", "operator": ">=", "value": 200},
                {
                    "attribute": "product.in_cart",
                    "operator": "==",
                    "value": True,
                    "sku": ["BAG-010"],
                },
            ],
        },
    },
    {
        "code": "nordic_spenders",
        "website": "nordic",
        "conditions": {
            "rules": [
                {"attribute": "sales.amount", "operator": ">=", "value": 500, "period": "365d"}
            ]
        },
    },
    {
        "code": "recent_not_vip",
        "conditions": {
            "match": "all",
            "value": True,
            "rules": [
                {"attribute": "segment", "operator": "!()", "value": ["vip"]},
                {"attribute": "sales.days_since_last_order", "operator": "<=", "value": 30},
                {
                    "match": "any",
                    "value": False,
                    "rules": [
                        {
                            "attribute": "address.country_id",
                            "operator": "==",
                            "value": "US",
                            "address_type": "default_billing",
                        },
                        {"attribute": "customer.days_since_created", "operator": "<", "value": 30},
                    ],
                },
            ],
        },
    },
]

FIRST = [
    "Anna",
    "Erik",
    "Lars",
    "Sofia",
    "Jörg",
    "Straße",
    "Maria",
    "John",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Åsa",
    "Zoë",
    "Chloé",
]
LAST = ["Andersson", "Öberg", "Müller", "Smith", "Johansen", "Nielsen", "Virtanen", "Brown"]
DOMAINS = ["gmail.com", "example.se", "example.no", "mail.dk", "example.com", "web.de"]
COUNTRIES = ["US"] * 5 + ["GB", "DE", "DE", "FR", "SE", "SE", "NO", "DK", "FI", "PL"]
STATUSES = ["complete"] * 6 + ["processing"] * 2 + ["canceled", "pending", "closed"]
PRODUCTS = (
    [(f"TS-{i:03d}", f"T-shirt {i}", Decimal(f"{15 + i}.90")) for i in range(1, 10)]
    + [(f"BAG-{i:03d}", f"Leather bag {i}", Decimal(f"{40 + 7 * i}.00")) for i in range(1, 12)]
    + [(f"SH-{i:03d}", f"Running shoe {i}", Decimal(f"{80 + i}.50")) for i in range(1, 8)]
)


# --- generation --------------------------------------------------------------------------


def segments(config: Any) -> list[Any]:
    from bridge.segments.loader import segments_from_dicts

    files = [
        tomllib.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "mappings").glob("*.toml"))
    ]
    return segments_from_dicts([*files, *EXTRA_SEGMENTS], config, ROOT / "mappings")


def _customers(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for cid in range(1, n + 1):
        website = 1 if rng.random() < 0.7 else 2
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{cid}@{rng.choice(DOMAINS)}"
        created = AS_OF - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        dob = (
            None
            if rng.random() < 0.3
            else date(rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29))
        )
        yield (
            cid,
            website,
            website,
            1,
            email,
            email.casefold(),
            first,
            first.casefold(),
            last,
            last.casefold(),
            rng.choice([None, 1, 2, 3]),
            dob,
            created,
            created,
            rng.random() < 0.4,
            cid,
            False,
        )


CUSTOMER_COLS = (
    "id",
    "website_id",
    "store_id",
    "group_id",
    "email",
    "email_ci",
    "firstname",
    "firstname_ci",
    "lastname",
    "lastname_ci",
    "gender",
    "dob",
    "created_at",
    "updated_at",
    "is_subscribed",
    "default_billing_id",
    "deleted",
)


def _addresses(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for cid in range(1, n + 1):
        country = rng.choice(COUNTRIES)
        yield (cid, cid, country, country.casefold(), "City", "city", "12345", "12345")


ADDRESS_COLS = (
    "id",
    "customer_id",
    "country_id",
    "country_id_ci",
    "city",
    "city_ci",
    "postcode",
    "postcode_ci",
)


def _orders(n_customers: int, n_orders: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for oid in range(1, n_orders + 1):
        # skewed: a few customers order much more than most
        cid = min(n_customers, int(n_customers * rng.random() ** 1.6) + 1)
        created = AS_OF - timedelta(seconds=rng.randrange(0, 730 * 86400))
        total = Decimal(rng.randrange(500, 60000)) / 100
        website = 1 if cid % 10 < 7 else 2
        yield (
            oid,
            cid,
            website,
            website,
            rng.choice(STATUSES),
            created,
            created,
            total,
            total,
            Decimal(rng.randrange(1, 6)),
            False,
            False,
        )


ORDER_COLS = (
    "id",
    "customer_id",
    "store_id",
    "website_id",
    "status",
    "created_at",
    "updated_at",
    "base_grand_total",
    "grand_total",
    "total_qty_ordered",
    "deleted",
    "customer_is_guest",
)


def _order_items(n_orders: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for oid in range(1, n_orders + 1):
        sku, name, price = rng.choice(PRODUCTS)
        yield (oid, oid, sku, sku.casefold(), name, name.casefold(), price, price, Decimal(1))


ITEM_COLS = (
    "id",
    "order_id",
    "sku",
    "sku_ci",
    "name",
    "name_ci",
    "price",
    "base_price",
    "qty_ordered",
)


def _order_addresses(n_orders: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for oid in range(1, n_orders + 1):
        country = rng.choice(COUNTRIES)
        yield (oid, "billing", country, country.casefold())


OADDR_COLS = ("order_id", "address_type", "country_id", "country_id_ci")


def _carts(n_customers: int, n_carts: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    picked = rng.sample(range(1, n_customers + 1), n_carts)
    for i, cid in enumerate(picked, start=1):
        count = rng.randrange(1, 5)
        subtotal = Decimal(rng.randrange(1000, 40000)) / 100
        updated = AS_OF - timedelta(seconds=rng.randrange(0, 60 * 86400))
        website = 1 if cid % 10 < 7 else 2
        yield (
            i,
            cid,
            website,
            website,
            True,
            count,
            Decimal(count),
            subtotal,
            updated,
            updated,
            False,
        )


CART_COLS = (
    "id",
    "customer_id",
    "store_id",
    "website_id",
    "is_active",
    "items_count",
    "items_qty",
    "subtotal",
    "created_at",
    "updated_at",
    "deleted",
)


def _cart_items(n_carts: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    iid = 0
    for cart in range(1, n_carts + 1):
        for _ in range(rng.randrange(1, 3)):
            iid += 1
            sku, name, price = rng.choice(PRODUCTS)
            yield (iid, cart, sku, sku.casefold(), name, name.casefold(), price, Decimal(1))


CART_ITEM_COLS = ("id", "cart_id", "sku", "sku_ci", "name", "name_ci", "price", "qty")


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's storage format
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)  # what SQLAlchemy's Numeric writes on SQLite
    return v


def _chunks(it: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    buf: list[tuple[Any, ...]] = []
    for row in it:
        buf.append(row)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def bulk_load(url: str, table: str, cols: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
    """Fast load: executemany on SQLite, COPY on PostgreSQL."""
    n = 0
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if url.startswith("sqlite"):
            cur.execute("PRAGMA synchronous=OFF")
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for chunk in _chunks(rows):
                cur.executemany(sql, [tuple(_sqlite_value(v) for v in r) for r in chunk])
                n += len(chunk)
        elif url.startswith("postgresql"):
            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
                for r in rows:
                    cp.write_row(r)
                    n += 1
        else:
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
            )
            for chunk in _chunks(rows, 5000):
                cur.executemany(sql, chunk)
                n += len(chunk)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return n


def generate(
    url: str, customers: int, orders_per_customer: float, cart_share: float, seed: int
) -> dict[str, Any]:
    from bridge.segments.testing import insert_rows
    from bridge.store import models as m
    from bridge.store.engine import open_store

    t0 = time.perf_counter()
    engine = open_store(url)
    with engine.begin() as conn:
        insert_rows(
            conn,
            m.Website,
            [dict(id=1, code="base", name="Main"), dict(id=2, code="nordic", name="Nordic")],
        )
        insert_rows(
            conn,
            m.StoreView,
            [dict(id=1, code="default", website_id=1), dict(id=2, code="se_sv", website_id=2)],
        )
        insert_rows(conn, m.CustomerGroup, [dict(id=1, code="General")])
    engine.dispose()
    n_orders = int(customers * orders_per_customer)
    n_carts = int(customers * cart_share)
    counts = {
        "customers": bulk_load(
            url, "customers", CUSTOMER_COLS, _customers(customers, random.Random(seed))
        ),
        "customer_addresses": bulk_load(
            url, "customer_addresses", ADDRESS_COLS, _addresses(customers, random.Random(seed + 1))
        ),
        "orders": bulk_load(
            url, "orders", ORDER_COLS, _orders(customers, n_orders, random.Random(seed + 2))
        ),
        "order_items": bulk_load(
            url, "order_items", ITEM_COLS, _order_items(n_orders, random.Random(seed + 3))
        ),
        "order_addresses": bulk_load(
            url, "order_addresses", OADDR_COLS, _order_addresses(n_orders, random.Random(seed + 4))
        ),
        "carts": bulk_load(
            url, "carts", CART_COLS, _carts(customers, n_carts, random.Random(seed + 5))
        ),
        "cart_items": bulk_load(
            url, "cart_items", CART_ITEM_COLS, _cart_items(n_carts, random.Random(seed + 6))
        ),
    }
    if url.startswith("postgresql"):
        # what autovacuum does soon after a sync on a live server (a bulk COPY leaves the
        # tables without statistics until it runs); SQLite gets none, as in real use
        e = create_engine(url, isolation_level="AUTOCOMMIT")
        with e.connect() as conn:
            conn.execute(text("ANALYZE"))
        e.dispose()
    return {"generate_s": round(time.perf_counter() - t0, 1), "rows": counts}


# --- measuring (in a child process, so peak memory is this run's alone) -------------------


class _TaskStats(logging.Handler):
    """Collects the worker tasks' (wall, CPU, peak KiB) that a parallel SQLite
    evaluation logs (the workers' own peak memory is only known to them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tasks: list[tuple[float, float, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.tasks += getattr(record, "segbridge_tasks", [])


def child(url: str) -> None:
    from bridge.config import Config
    from bridge.segments.evaluate import evaluate
    from bridge.store.engine import open_store

    stats = _TaskStats()
    ev_log = logging.getLogger("bridge.segments.evaluate")
    ev_log.setLevel(logging.DEBUG)
    ev_log.addHandler(stats)
    cfg = Config()
    segs = segments(cfg)
    engine = open_store(url)
    t0, c0 = time.perf_counter(), time.process_time()
    first = evaluate(engine, segs, AS_OF, config=cfg)
    t1, c1 = time.perf_counter(), time.process_time()
    second = evaluate(engine, segs, AS_OF, config=cfg)
    t2, c2 = time.perf_counter(), time.process_time()
    engine.dispose()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the worker processes of a parallel SQLite evaluation, ended by now: their CPU
    # added up, and the largest one's peak as it measured it
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_kb = max((k for _w, _c, k in stats.tasks), default=0)
    print(
        json.dumps(
            {
                "segments": len(segs),
                "first_s": round(t1 - t0, 2),
                "second_s": round(t2 - t1, 2),
                "first_cpu_s": round(c1 - c0, 2),
                "second_cpu_s": round(c2 - c1, 2),
                "peak_rss_mb": round(rss_kb / 1024, 1),
                "worker_peak_rss_mb": round(worker_kb / 1024, 1),
                "workers_cpu_s": round(workers.ru_utime + workers.ru_stime, 2),
                "members": {c: r.members for c, r in first.items()},
                "changes_second": sum(r.joined + r.left for r in second.values()),
            }
        )
    )


def fresh_url(kind: str, size: int, workdir: Path, pg_url: str) -> tuple[str, Any]:
    if kind == "sqlite":
        path = workdir / f"bench-{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}", lambda: [
            Path(str(path) + s).unlink(missing_ok=True) for s in ("", "-wal", "-shm")
        ]
    name = f"sb_bench_{size}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return pg_url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--dbs", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite"])
    ap.add_argument("--orders-per-customer", type=float, default=4.0)
    ap.add_argument("--carts", type=float, default=0.25, help="active carts per customer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp"))
    ap.add_argument("--pg-url", default=os.environ.get("SEGBRIDGE_PG_URL", PG_DEFAULT))
    ap.add_argument("--keep", action="store_true", help="keep the generated databases")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    print(f"machine: {machine()}")
    print(
        "command: .venv/bin/python bench/evaluate_bench.py "
        + " ".join(shlex.quote(a) for a in sys.argv[1:])
    )
    results = []
    for kind in args.dbs:
        for size in args.sizes:
            url, drop = fresh_url(kind, size, args.workdir, args.pg_url)
            try:
                gen = generate(url, size, args.orders_per_customer, args.carts, args.seed)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", url],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    print(out.stderr, file=sys.stderr)
                    return 1
                res = json.loads(out.stdout.strip().splitlines()[-1])
                row = {"db": kind, "customers": size, **gen, **res}
                results.append(row)
                print(
                    f"{kind:<10} {size:>9,} customers  {gen['rows']['orders']:>9,} orders  "
                    f"{gen['rows']['carts']:>7,} carts | generate {gen['generate_s']:>6.1f} s | "
                    f"evaluate {res['segments']} segments: first {res['first_s']:>6.2f} s "
                    f"(cpu {res['first_cpu_s']:.2f}), again {res['second_s']:>6.2f} s "
                    f"(cpu {res['second_cpu_s']:.2f}) | peak RSS {res['peak_rss_mb']:.0f} MiB, "
                    f"largest worker {res['worker_peak_rss_mb']:.0f} MiB "
                    f"(workers' cpu, both runs {res['workers_cpu_s']:.2f} s)",
                    flush=True,
                )
            finally:
                if not args.keep:
                    drop()
    for kind in args.dbs:
        rows = [r for r in results if r["db"] == kind]
        if len(rows) >= 2:
            a, b = rows[0], rows[-1]
            factor = b["customers"] / a["customers"]
            growth = b["second_s"] / a["second_s"] if a["second_s"] else float("nan")
            print(
                f"{kind}: customers ×{factor:.0f} → steady-state time ×{growth:.1f}, "
                f"first-run time ×{b['first_s'] / a['first_s']:.1f}"
            )
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
