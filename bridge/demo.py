"""``segbridge demo``: the whole pipeline against the bundled sandbox, in under a minute.

It starts the Magento-compatible sandbox on a free 127.0.0.1 port, writes a config for it
in a demo folder (``./segbridge-demo`` unless ``--dir``), and runs the very commands an
admin would type — check, sync, evaluate, plan, push — then shows each segment's members
and what was pushed. The store it leaves behind stays readable afterwards (``members``,
``explain``, ``report``, ``status``); the sandbox stops when the demo ends.
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


def example_mappings() -> Path:
    """The example segment files: ``./mappings`` in a checkout, else the package's parent."""
    for candidate in (Path.cwd() / "mappings", Path(__file__).resolve().parents[1] / "mappings"):
        if candidate.is_dir() and any(candidate.glob("*.toml")):
            return candidate
    raise ConfigError(
        ["mappings: the example segment files were not found: run the demo from the "
         "segbridge checkout (it reads ./mappings)"]
    )


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


def cmd_demo(ctx: Any, args: argparse.Namespace) -> int:
    from bridge.cli import CliContext, build_parser, resolve
    from bridge.sandbox.server import SandboxServer

    console = ctx.console()
    folder: Path = (args.dir or Path.cwd() / "segbridge-demo").resolve()
    mappings = example_mappings()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("segbridge.db", "segbridge.db-wal", "segbridge.db-shm"):
        (folder / stale).unlink(missing_ok=True)  # a new sandbox: start from an empty store
    started = time.monotonic()
    console.print(
        f"[bold]segbridge demo[/]: a generated shop of {args.customers} customers, "
        f"the segments in {mappings}, files in {folder}"
    )
    with SandboxServer(customers=args.customers, seed=1) as sandbox:
        os.environ[TOKEN_ENV] = sandbox.token
        config_path = write_demo_config(folder, sandbox.base_url, mappings)
        console.print(f"sandbox serving Magento's REST API at {sandbox.base_url}")
        parser = build_parser()
        steps = [
            ("check: config and segment files", ["check"]),
            ("sync: customers, orders and carts into the store", ["sync"]),
            ("evaluate: every segment for every customer", ["evaluate"]),
            ("plan: what a push would change (writes nothing)", ["plan"]),
            ("push: groups, CMS blocks and cart rules", ["push"]),
            ("segments: members now", ["segments"]),
        ]
        worst = EXIT_OK
        for title, argv in steps:
            _step(console, title)
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
        f"segbridge --config {rel} status",
        f"segbridge --config {rel} report --output {_shown(folder / 'report.html')}",
        "segbridge sandbox --customers 5000   # a sandbox of your own to point a config at",
    ):
        console.print(f"  {line}")
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    return worst
