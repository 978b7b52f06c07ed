"""A big sandbox shop in its own process, and ``segbridge`` runs as processes against it,
for the benches that need a shop of 100,000 customers (``sync_bench.py``,
``sweep_bench.py``, ``privacy_bench.py``).

The sandbox answers after ``latency`` seconds, as a store on another machine would, and
renders on its own cores (it is built and warmed before anything is timed, as in
``sync_bench.py``). Commands over the pipe: ``touch`` (a share of customers, orders and
carts changed now), ``delete`` (that many customers deleted, as an admin would: their
orders stay, with no customer), ``requests`` (API requests answered so far), ``stop``.
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def build_server(opts: dict[str, Any]) -> tuple[Any, float]:
    """In the sandbox process: the shop built, warmed and served; (server, start time).

    ``opts``: customers, seed, orders_per_customer, active_carts, latency (seconds)."""
    sys.path.insert(0, str(REPO))
    from bridge.sandbox.server import SandboxServer, serve_in_this_process

    serve_in_this_process()
    started = time.monotonic()
    server = SandboxServer(
        customers=opts["customers"], seed=opts["seed"],
        orders_per_customer=opts["orders_per_customer"], active_carts=opts["active_carts"],
        latency_s=opts["latency"], token=TOKEN,
    )
    # Every customer's and order's text rendered now, not while the sync is timed: a
    # store on another machine renders on its own cores (Shop.customer_text,
    # Shop.lean_order_text).
    server.shop.warm_texts()
    # The kept texts are garbage-free too: out of the collector's walks, as the shop is
    # (SandboxServer freezes what it built; FREEZE_FROM_CUSTOMERS).
    gc.collect()
    gc.freeze()
    return server, started


def _sandbox_main(conn: Any, opts: dict[str, Any]) -> None:
    server, started = build_server(opts)
    shop = server.shop
    with shop.lock:
        counts = {"customers": len(shop.customers.ids), "orders": len(shop.orders.ids)}
    conn.send({"base_url": server.base_url, "build_s": time.monotonic() - started, **counts})
    while True:
        cmd, arg = conn.recv()
        if cmd == "touch":
            changed = shop.touch(customers=arg, orders=arg, carts=arg)
            conn.send({k: len(v) for k, v in changed.items()})
        elif cmd == "delete":
            with shop.lock:
                ids = list(shop.customers.ids)
            step = max(1, len(ids) // (arg + 1))
            gone = ids[step::step][:arg]
            for cid in gone:
                shop.delete_customer(cid)
            conn.send(gone)
        elif cmd == "requests":  # API requests the shop answered so far
            conn.send(server.stats.total)
        elif cmd == "stop":
            server.close()
            conn.send("stopped")
            return


@dataclass
class Shop:
    """The sandbox process and its pipe."""

    process: Any
    pipe: Any
    info: dict[str, Any]

    @classmethod
    def start(cls, customers: int, orders_per_customer: float, active_carts: float,
              latency: float, seed: int = 1) -> Shop:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        opts = {"customers": customers, "seed": seed, "orders_per_customer":
                orders_per_customer, "active_carts": active_carts, "latency": latency}
        process = ctx.Process(target=_sandbox_main, args=(child, opts), daemon=True)
        process.start()
        print(f"building the sandbox shop ({customers:,} customers) …", flush=True)
        info = parent.recv()
        print(f"sandbox ready in {info['build_s']:.0f} s: {info['customers']:,} customers, "
              f"{info['orders']:,} orders, {latency * 1000:.0f} ms latency per answer",
              flush=True)
        return cls(process, parent, info)

    def ask(self, cmd: str, arg: Any = None) -> Any:
        self.pipe.send((cmd, arg))
        return self.pipe.recv()

    def stop(self) -> None:
        try:
            self.ask("stop")
        except (EOFError, OSError):
            pass
        self.process.join(timeout=30)


def write_config(path: Path, base_url: str, store: str, *, page_size: int = 100,
                 concurrency: int = 4, privacy: str = "", overlap_s: int = 300) -> Path:
    """A config for the bench shop with the repository's example mappings. ``overlap_s``:
    runs seconds apart instead of 15 minutes re-read, within the default 300 s overlap,
    every customer the previous run's push moved; a bench of back-to-back runs sets 1."""
    path.write_text(
        f'[magento]\nbase_url = "{base_url}"\npage_size = {page_size}\n'
        f"concurrency = {concurrency}\ntimeout_s = 120\n\n"
        f'[store]\nurl = "{store}"\n\n[sync]\nsince = "3650d"\n'
        'customer_attributes = ["loyalty_tier", "preferred_language", "b2b_account"]\n'
        f"overlap_s = {overlap_s}\n"
        # the first push of a big shop moves every member: not the brake's business here
        "\n[push]\nmax_changes = 10000000\n"
        f"\n[privacy]\n{privacy}\n"
        f'\n[mappings]\ndir = "{(REPO / "mappings").as_posix()}"\n'
    )
    return path


def segbridge(config: Path, *argv: str) -> tuple[dict[str, Any], float, float]:
    """(``--json`` answer, wall s, peak RSS MB) of one ``segbridge`` process."""
    out, wall, rss, _cpu = segbridge_cpu(config, *argv)
    return out, wall, rss


def segbridge_cpu(config: Path, *argv: str) -> tuple[dict[str, Any], float, float, float]:
    """``segbridge`` and the process's own CPU seconds (user + system)."""
    cmd = [sys.executable, "-m", "bridge", "--config", str(config), "--json", *argv]
    env = {**os.environ, "MAGENTO_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    out_file, err_file = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out_file, stderr=err_file)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read().decode(), err_file.read().decode()
    if code not in (0, 3):
        raise SystemExit(f"segbridge {' '.join(argv)} failed (exit {code}):\n{err[-3000:]}")
    return json.loads(out), wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
