"""``segbridge demo``: the whole pipeline against the bundled sandbox, in under a minute.

It starts the Magento-compatible sandbox on a free 127.0.0.1 port, writes a config for it
in a demo folder (``./segbridge-demo`` unless ``--dir``), and runs the very commands an
admin would type — check, sync, evaluate, plan, push — then shows each segment's members
and what was pushed. The store it leaves behind stays readable afterwards (``members``,
``explain``, ``report``, ``status``); the sandbox stops when the demo ends.

Then it measures what one segment is worth: the demo's copy of the segment files gives
``LIFT_SEGMENT`` a holdout, the sandbox plays a month forward in which that segment's group
orders ``LIFT_UPLIFT`` more often a day than everyone else (``bridge.sandbox.simulate``),
and ``sync``, ``evaluate`` and ``lift`` show the difference between the treated and the
held-out members. The shop's clock starts that month back, so every evaluation is given
``--as-of`` the shop's clock: the members join at the month's start and their orders are
counted over the month that follows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bridge.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, ConfigError

TOKEN_ENV = "SEGBRIDGE_DEMO_TOKEN"
# The measured segment: the biggest of the examples with a group (about 860 of the 2,000
# customers), a third held out, its group ordering 50 % more often a day; each customer
# orders on a day with a 1 % chance (about a quarter buy in a month), so a month gives
# enough buyers on each side for an interval a few points wide.
LIFT_SEGMENT = "nordic"
LIFT_GROUP = "Nordic"
LIFT_HOLDOUT = 0.3
LIFT_UPLIFT = 0.5
LIFT_BASE_RATE = 0.01
LIFT_DAYS = 30


def example_mappings() -> Path:
    """The example segment files: ``./mappings`` in a checkout, else the package's parent."""
    for candidate in (Path.cwd() / "mappings", Path(__file__).resolve().parents[1] / "mappings"):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise ConfigError(
        ["mappings: the example segment files were not found: run the demo from the "
         "segbridge checkout (it reads ./mappings)"]
    )


def demo_mappings(folder: Path, source: Path) -> Path:
    """The example segment files copied into the demo folder, ``LIFT_SEGMENT`` given a
    holdout of ``LIFT_HOLDOUT`` (a top-level key, so it goes before the first table)."""
    target = folder / "mappings"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    path = target / f"{LIFT_SEGMENT}.toml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("code ="))
    lines.insert(at + 1, f"holdout = {LIFT_HOLDOUT}  # segbridge demo: measured by `lift`\n")
    path.write_text("".join(lines), encoding="utf-8")
    return target


def write_demo_config(folder: Path, base_url: str, mappings: Path) -> Path:
    """A config for the sandbox; the token is read from ``TOKEN_ENV`` like any secret."""
    path = folder / "segbridge.toml"
    path.write_text(
        f"""# Written by `segbridge demo` for the sandbox at {base_url}.
[magento]
base_url = "{base_url}"
page_size = 100
concurrency = 4
write_concurrency = 4

[magento.auth]
method = "token"
token_env = "{TOKEN_ENV}"

[store]
url = "sqlite:///segbridge.db"

[push]
# Wholesale too: the b2b_nudges recipe moves Wholesale customers into its B2B group
# (and home to Wholesale when they leave it); docs/recipes.md
movable_groups = ["General", "Wholesale"]
max_changes = 100000

[mappings]
dir = "{mappings.as_posix()}"
""",
        encoding="utf-8",
    )
    return path


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _a_member(config_path: Path, segment: str) -> str:
    """Some member of ``segment`` to suggest for ``explain`` (a customer id)."""
    from sqlalchemy import text

    from bridge.config import load_config
    from bridge.store.engine import make_engine

    engine = make_engine(load_config(config_path).store.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT MIN(customer_id) FROM segment_members WHERE segment_code = :s"),
                {"s": segment},
            ).first()
    finally:
        engine.dispose()
    return str(row[0]) if row and row[0] is not None else "1"


def _step(console: Any, title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")


def _play(console: Any, sandbox: Any) -> None:
    """The sandbox plays ``LIFT_DAYS`` days: ``LIFT_GROUP``'s customers (the treated
    members the push moved there) order ``LIFT_UPLIFT`` more often a day."""
    from bridge.sandbox.simulate import simulate_days

    sim = simulate_days(sandbox.shop, LIFT_DAYS, {LIFT_GROUP: LIFT_UPLIFT},
                        base_rate=LIFT_BASE_RATE, seed=1)
    console.print(
        f"Each customer orders on a day with a {LIFT_BASE_RATE:.0%} chance; group "
        f"{LIFT_GROUP} (the treated {LIFT_SEGMENT} members) {LIFT_UPLIFT:.0%} more often. "
        f"The held-out {LIFT_HOLDOUT:.0%} of {LIFT_SEGMENT} stayed in their own groups."
    )
    for line in sim.lines():
        console.print(line, markup=False, highlight=False)


def cmd_demo(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.cli import CliContext, build_parser, resolve
    from bridge.sandbox.server import SandboxServer

    console = ctx.console()
    folder: Path = (args.dir or Path.cwd() / "segbridge-demo").resolve()
    mappings = example_mappings()
    folder.mkdir(parents=True, exist_ok=True)
    mappings = demo_mappings(folder, mappings)
    for stale in ("segbridge.db", "segbridge.db-wal", "segbridge.db-shm"):
        (folder / stale).unlink(missing_ok=True)  # a new sandbox: start from an empty store
    started = time.monotonic()
    console.print(
        f"[bold]segbridge demo[/]: a generated shop of {args.customers} customers, "
        f"the segments in {mappings}, files in {folder}"
    )
    with SandboxServer(customers=args.customers, seed=1,
                       simulate_days=LIFT_DAYS + 1) as sandbox:
        os.environ[TOKEN_ENV] = sandbox.token
        config_path = write_demo_config(folder, sandbox.base_url, mappings)
        console.print(f"sandbox serving Magento's REST API at {sandbox.base_url}")
        parser = build_parser()
        shop_now = sandbox.shop.clock.now_text
        steps: list[tuple[str, Any]] = [
            ("check: config and segment files", ["check"]),
            ("sync: customers, orders and carts into the store", ["sync"]),
            ("evaluate: every segment for every customer",
             lambda: ["evaluate", "--as-of", shop_now()]),
            ("plan: what a push would change (writes nothing)", ["plan"]),
            ("push: groups, CMS blocks and cart rules", ["push"]),
            ("segments: members now", ["segments"]),
            (f"a month later: the shop plays {LIFT_DAYS} days of orders", _play),
            ("sync: the month's orders", ["sync"]),
            ("evaluate: as of the month's end",
             lambda: ["evaluate", "--as-of", shop_now()]),
            (f"lift: what {LIFT_SEGMENT} is worth, treated against held-out members",
             ["lift", LIFT_SEGMENT]),
        ]
        worst = EXIT_OK
        for title, step in steps:
            _step(console, title)
            if step is _play:
                _play(console, sandbox)
                continue
            argv = step() if callable(step) else step
            args_ns = parser.parse_args(["--config", str(config_path), *argv])
            step_ctx = CliContext(config_path=config_path, verbosity=ctx.verbosity)
            try:
                code = resolve(args_ns.command)(step_ctx, args_ns)
            except ConfigError as exc:
                for line in exc.problems:
                    console.print(f"[red]{line}")
                return EXIT_BAD_INPUT
            if code not in (EXIT_OK, EXIT_PARTIAL):
                console.print(f"[red]{argv[0]} exited {code}; the demo stops here")
                return code
            worst = max(worst, code)
        routes = sandbox.stats.snapshot()["routes"]
        writes = sum(n for route, n in routes.items() if not route.startswith("GET "))
    elapsed = time.monotonic() - started
    _step(console, "done")
    rel = _shown(config_path)
    member = _a_member(config_path, "vip")
    summary = f"demo finished in {elapsed:.1f} s; the sandbox received {writes} writes"
    console.print("Each segment is a recipe of docs/recipes.md: what it does, how to tune it.")
    console.print(summary + ". The store stays in " + str(folder) + "; try:")
    for line in (
        f"segbridge --config {rel} members vip",
        f"segbridge --config {rel} explain vip {member}",
        f"segbridge --config {rel} history vip",
        f"segbridge --config {rel} lift {LIFT_SEGMENT} --window 14d",
        f"segbridge --config {rel} status",
        f"segbridge --config {rel} report --output {_shown(folder / 'report.html')}",
        "segbridge sandbox --customers 5000   # a sandbox of your own to point a config at",
    ):
        console.print(f"  {line}")
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    return worst
