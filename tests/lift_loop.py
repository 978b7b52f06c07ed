"""The whole loop of a holdout, for the tests and bench/lift_loop_bench.py: a sandbox shop
started a month back; sync, evaluate as of the shop's clock, push; the shop plays the month
with the treated group ordering a planted share more often a day; sync, evaluate; the lift
of every segment, read the way ``segbridge lift`` reads it.

Segment ``treat`` (every customer, group ``Treat``, holdout 0.5) is the one the push acts
on; ``null00``…: every customer too, holdout 0.5, no group. Their halves are drawn by the
hash of their own code, independent of ``treat``'s, so each is a comparison where nothing
differs but the draw: a test of the whole chain (history, sync of the month's orders,
attribution of orders to spans, the statistics) that should find a difference 5 % of the
time.
"""

from __future__ import annotations

import contextlib
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.cli import main
from bridge.lift.command import segment_lift
from bridge.lift.compute import Lift
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.simulate import simulate_days
from bridge.store.engine import make_engine

TOKEN_ENV = "SEGBRIDGE_LIFT_LOOP_TOKEN"
EVERYONE = '[conditions]\n[[conditions.rules]]\nattribute = "customer.email"\noperator = "{}"\n' \
           'value = "@"\n'


def write_files(folder: Path, base_url: str, nulls: int, holdout: float) -> Path:
    mappings = folder / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    (mappings / "treat.toml").write_text(
        f'code = "treat"\npriority = 100\nholdout = {holdout}\n{EVERYONE}'
        '[group]\ncode = "Treat"\n')
    for i in range(nulls):
        (mappings / f"null{i:02d}.toml").write_text(
            f'code = "null{i:02d}"\nholdout = {holdout}\n{EVERYONE}')
    config = folder / "segbridge.toml"
    config.write_text(
        f'[magento]\nbase_url = "{base_url}"\npage_size = 300\nconcurrency = 4\n'
        f'write_concurrency = 4\n[magento.auth]\nmethod = "token"\ntoken_env = "{TOKEN_ENV}"\n'
        f'[store]\nurl = "sqlite:///{(folder / "store.db").as_posix()}"\n'
        '[push]\nmovable_groups = ["General", "Wholesale", "Retailer"]\nmax_changes = 1000000\n'
        f'[mappings]\ndir = "{mappings.as_posix()}"\n')
    return config


def _cli(config: Path, *argv: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["-q", "--config", str(config), *argv])
    if code != 0:
        raise AssertionError(f"segbridge {' '.join(argv)} exited {code}: {out.getvalue()[-2000:]}")


def _shop_now(sandbox: SandboxServer) -> str:
    return datetime.fromtimestamp(sandbox.shop.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def run_loop(folder: Path, *, customers: int, seed: int, uplift: float, nulls: int = 0,
             days: int = 30, base_rate: float = 0.01, holdout: float = 0.5,
             orders_per_customer: float = 0.5) -> dict[str, Lift]:
    """Every segment's lift after the month (``treat`` and ``null00``…). The shop's own
    past orders play no part (every customer is in every segment): few of them make the
    first sync quick."""
    with SandboxServer(customers=customers, seed=seed, simulate_days=days + 1,
                       orders_per_customer=orders_per_customer) as sandbox:
        os.environ[TOKEN_ENV] = sandbox.token
        config = write_files(folder, sandbox.base_url, nulls, holdout)
        _cli(config, "sync")
        _cli(config, "evaluate", "--as-of", _shop_now(sandbox))
        _cli(config, "push")
        simulate_days(sandbox.shop, days, {"Treat": uplift}, base_rate=base_rate, seed=seed)
        _cli(config, "sync")
        _cli(config, "evaluate", "--as-of", _shop_now(sandbox))
    engine = make_engine(f"sqlite:///{(folder / 'store.db').as_posix()}")
    try:
        with engine.connect() as conn:
            codes = ["treat", *[f"null{i:02d}" for i in range(nulls)]]
            return {code: segment_lift(conn, code) for code in codes}
    finally:
        engine.dispose()


def summary(lifts: dict[str, Any]) -> str:
    return "; ".join(f"{code}: {lift.verdict()}" for code, lift in lifts.items())
