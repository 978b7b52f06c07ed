"""What ``privacy.keep = "used"`` saves: the store's size and personal columns, and the
sync's time, against ``keep = "all"``, on the bench shop.

The sandbox shop is the sync bench's (default 100,000 customers, 4 orders each, a quarter
with an active cart; 20 ms latency per answer, in its own process). For each setting a
first sync fills a new SQLite store (``segbridge --json sync`` as a process) with the
repository's example mappings, which read a date of birth, a country and a group; then:

- the sync's wall time, its own CPU time and peak memory (the sandbox serves whole
  customer pages pre-rendered but builds a ``fields=`` answer per request, on this
  machine's cores: wall time favours ``keep = "all"`` here more than a real store would);
- the store file's size (after a WAL checkpoint), and each table's;
- which personal columns hold any value, and how many values in all.

Run (the figures in docs/privacy.md)::

    .venv/bin/python bench/privacy_bench.py

Quicker: ``--customers 20000``.
"""

from __future__ import annotations

import argparse
import shlex
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchinfo import machine
from bigshop import Shop, segbridge_cpu, write_config

REPO = Path(__file__).resolve().parent.parent

PERSONAL = {
    "customers": ("firstname", "lastname", "middlename", "prefix", "suffix", "taxvat",
                  "created_in", "gender", "dob", "is_subscribed"),
    "customer_addresses": ("firstname", "lastname", "company", "street", "city", "region",
                           "region_code", "postcode", "country_id", "telephone", "vat_id"),
    "order_addresses": ("firstname", "lastname", "company", "street", "city", "region",
                        "region_code", "postcode", "country_id", "telephone", "vat_id"),
}


def _measure(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables: dict[str, int] = {}
        try:
            for name, size in db.execute(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"):
                tables[name] = int(size)
        except sqlite3.OperationalError:  # no dbstat in this SQLite build
            pass
        held: dict[str, list[str]] = {}
        values = 0
        for table, cols in PERSONAL.items():
            held[table] = []
            for col in cols:
                n = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {col} IS NOT NULL"
                               ).fetchone()[0]
                if n:
                    held[table].append(col)
                    values += n
        attrs = db.execute("SELECT code, COUNT(*) FROM customer_attributes GROUP BY code"
                           ).fetchall()
        values += sum(n for _, n in attrs)
        kept = db.execute("SELECT entity, field FROM privacy_kept ORDER BY 1, 2").fetchall()
    finally:
        db.close()
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))
    return {"size": size, "tables": tables, "held": held, "attributes": dict(attrs),
            "values": values, "kept": kept}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders-per-customer", type=float, default=4.0)
    p.add_argument("--active-carts", type=float, default=0.25)
    p.add_argument("--latency", type=float, default=0.020)
    args = p.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="segbridge-privacy-"))
    shop = Shop.start(args.customers, args.orders_per_customer, args.active_carts,
                      args.latency)
    results: dict[str, Any] = {}
    try:
        for keep in ("used", "all"):
            path = workdir / f"{keep}.db"
            config = write_config(workdir / f"{keep}.toml", shop.info["base_url"],
                                  f"sqlite:///{path}", privacy=f'keep = "{keep}"')
            out, wall, rss, cpu = segbridge_cpu(config, "sync")
            results[keep] = {"wall": wall, "rss": rss, "cpu": cpu, "requests": out["requests"],
                             **_measure(path)}
            print(f'keep = "{keep}": sync {wall:.1f} s, {results[keep]["size"] / 1e6:.1f} MB',
                  flush=True)
    finally:
        shop.stop()

    used, every = results["used"], results["all"]
    print()
    print(f"shop: {shop.info['customers']:,} customers, {shop.info['orders']:,} orders; "
          f"example mappings; {args.latency * 1000:.0f} ms latency per answer")
    print(f"  {'':<34} {'keep = used':>14} {'keep = all':>14}")
    print(f"  {'first sync, wall':<34} {used['wall']:>12.1f} s {every['wall']:>12.1f} s")
    print(f"  {'first sync, its own CPU':<34} {used['cpu']:>12.1f} s {every['cpu']:>12.1f} s")
    print(f"  {'first sync, peak memory':<34} {used['rss']:>11.0f} MB {every['rss']:>11.0f} MB")
    print(f"  {'first sync, requests':<34} {used['requests']:>14,} {every['requests']:>14,}")
    print(f"  {'store file (after checkpoint)':<34} {used['size'] / 1e6:>11.1f} MB "
          f"{every['size'] / 1e6:>11.1f} MB")
    for table in ("customers", "customer_addresses", "order_addresses", "customer_attributes"):
        a, b = used["tables"].get(table), every["tables"].get(table)
        if a is not None and b is not None:
            print(f"  {'  table ' + table:<34} {a / 1e6:>11.1f} MB {b / 1e6:>11.1f} MB")
    print(f"  {'personal values held':<34} {used['values']:>14,} {every['values']:>14,}")
    for table in PERSONAL:
        print(f"  {table} columns holding values:")
        print(f"    used: {', '.join(used['held'][table]) or '(none)'}")
        print(f"    all:  {', '.join(every['held'][table]) or '(none)'}")
    print(f"  custom attributes held: used {sorted(used['attributes'])}, "
          f"all {sorted(every['attributes'])}")
    print(f"  privacy_kept with keep = used: {used['kept']}")
    print()
    print(f"machine: {machine()}")
    print("reproduce: " + " ".join(shlex.quote(a) for a in [
        ".venv/bin/python", "bench/privacy_bench.py", *sys.argv[1:]]))
    for f in workdir.glob("*.db*"):
        f.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
