"""How fast the sandbox generates and answers — so that it is never the bottleneck.

    python -m bridge.sandbox.perf --customers 100000 --orders-per-customer 4 --active-carts 0.25

Prints generation time, peak RSS, and per-page latency (median / p95 over real HTTP with
keep-alive) for offset pages, keyset pages (the sync's filter groups) and ``fields=``
trimmed pages of customers, orders and carts.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from typing import Any

import requests

from bridge.sandbox.server import SandboxServer
from bridge.sandbox.shop import Shop

SORT = {"searchCriteria[sortOrders][0][field]": "updated_at",
        "searchCriteria[sortOrders][0][direction]": "ASC",
        "searchCriteria[sortOrders][1][field]": "entity_id",
        "searchCriteria[sortOrders][1][direction]": "ASC"}


def _keyset(u: str, i: int, size: int) -> dict[str, Any]:
    g = "searchCriteria[filter_groups]"
    return {**SORT, "searchCriteria[pageSize]": size, "searchCriteria[currentPage]": 1,
            f"{g}[0][filters][0][field]": "updated_at", f"{g}[0][filters][0][value]": u,
            f"{g}[0][filters][0][condition_type]": "gteq",
            f"{g}[1][filters][0][field]": "updated_at", f"{g}[1][filters][0][value]": u,
            f"{g}[1][filters][0][condition_type]": "gt",
            f"{g}[1][filters][1][field]": "entity_id", f"{g}[1][filters][1][value]": i,
            f"{g}[1][filters][1][condition_type]": "gt"}


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
    return f"median {statistics.median(xs) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--orders-per-customer", type=float, default=4.0)
    ap.add_argument("--active-carts", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pages", type=int, default=30, help="pages timed per kind")
    ap.add_argument("--page-size", type=int, default=100)
    a = ap.parse_args(argv)
    print("command: python -m bridge.sandbox.perf " + " ".join(sys.argv[1:] if argv is None
                                                                else argv))
    t0 = time.perf_counter()
    c0 = time.process_time()
    shop = Shop(customers=a.customers, seed=a.seed, orders_per_customer=a.orders_per_customer,
                active_carts=a.active_carts)
    gen = time.perf_counter() - t0
    gen_cpu = time.process_time() - c0
    active = sum(1 for q in shop.carts.values() if q.is_active and q.customer_id is not None)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"generated {len(shop.customers)} customers, {len(shop.orders)} orders, "
          f"{len(shop.carts)} carts ({active} active customer carts) in {gen:.1f} s "
          f"({gen_cpu:.1f} s CPU); "
          f"peak RSS {rss:.0f} MB")
    with SandboxServer(shop=shop) as s:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {s.token}"
        size = a.page_size
        for kind, path, idk in (("customers", "/customers/search", "id"),
                                ("orders", "/orders", "entity_id"),
                                ("carts", "/carts/search", "id")):
            url = s.base_url + "/rest/all/V1" + path
            total = len(getattr(shop, kind))
            last_page = max(1, -(-total // size))
            offs, keys, trims = [], [], []
            for n in range(a.pages):
                page = 1 + (n * 7919) % last_page
                t = time.perf_counter()
                r = http.get(url, params={**SORT, "searchCriteria[pageSize]": size,
                                          "searchCriteria[currentPage]": page})
                offs.append(time.perf_counter() - t)
                r.raise_for_status()
            u, i = "2000-01-01 00:00:00", 0
            for _ in range(a.pages):
                t = time.perf_counter()
                r = http.get(url, params=_keyset(u, i, size))
                keys.append(time.perf_counter() - t)
                items = r.json()["items"]
                if not items:
                    break
                u, i = items[-1]["updated_at"], items[-1][idk]
            for n in range(a.pages):
                t = time.perf_counter()
                r = http.get(url, params={**SORT, "searchCriteria[pageSize]": size,
                                          "searchCriteria[currentPage]": 1 + n,
                                          "fields": f"items[{idk},updated_at],total_count"})
                trims.append(time.perf_counter() - t)
            print(f"{kind:9} {size}-row pages: offset {_ms(offs)} | keyset {_ms(keys)} | "
                  f"fields= {_ms(trims)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
