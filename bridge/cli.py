"""The command line (docs/commands.md): parse arguments, call one function, print.

Each command lives beside the code it drives and is imported only when run, so that
``segbridge check`` stays quick and the sandbox is imported only by ``demo`` and
``sandbox``. A command function takes ``(ctx, args)`` and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, ConfigError, SegbridgeError
from bridge.logging_setup import level_for, setup_logging
from bridge.output import safe_lines

# command name -> "module:function"
COMMANDS: dict[str, str] = {
    "check": "bridge.checks:cmd_check",
    "sync": "bridge.sync.command:cmd_sync",
    "evaluate": "bridge.segments.command:cmd_evaluate",
    "plan": "bridge.pipeline:cmd_plan",
    "push": "bridge.pipeline:cmd_push",
    "run": "bridge.pipeline:cmd_run",
    "resync": "bridge.pipeline:cmd_resync",
    "daemon": "bridge.scheduler:cmd_daemon",
    "segments": "bridge.segments.command:cmd_segments",
    "members": "bridge.segments.command:cmd_members",
    "explain": "bridge.segments.command:cmd_explain",
    "history": "bridge.segments.command:cmd_history",
    "status": "bridge.status:cmd_status",
    "report": "bridge.report:cmd_report",
    "demo": "bridge.demo:cmd_demo",
    "sandbox": "bridge.sandbox.command:cmd_sandbox",
    "attributes": "bridge.segments.catalog:cmd_attributes",
    "lift": "bridge.lift.command:cmd_lift",
    "forget": "bridge.privacy.command:cmd_forget",
    "subject": "bridge.privacy.command:cmd_subject",
}
# The commands that take the run lock and write a run: SIGTERM unwinds them so that
# their run is recorded as interrupted (the daemon has its own, graceful, handler).
LOCKING = frozenset({"sync", "evaluate", "plan", "push", "run", "resync", "forget"})


@dataclass
class CliContext:
    """What every command gets: the global options and lazily loaded config."""

    config_path: Path | None
    json: bool = False
    wait: bool = False
    verbosity: int = 0
    _config: Any = field(default=None, repr=False)

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0 or self.json

    def config(self) -> Any:
        """The validated config (raises ConfigError, exit 2)."""
        if self._config is None:
            from bridge.config import load_config

            self._config = load_config(self.config_path)
            setup_logging(self._config.log.format, level_for(self.verbosity))
        return self._config

    def emit_json(self, value: Any) -> None:
        json.dump(value, sys.stdout, indent=2, default=str, ensure_ascii=False)
        sys.stdout.write("\n")

    def console(self) -> Any:
        from rich.console import Console

        console = Console(quiet=self.verbosity < 0, highlight=False)

        def closed() -> None:  # Rich would exit 1; main() ends a closed pipe quietly, 0
            console.quiet = True
            raise BrokenPipeError

        console.on_broken_pipe = closed  # type: ignore[method-assign]
        return console

    def error_console(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False)


def _when(text: str) -> Any:
    from bridge.timeutil import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sandbox_arg(name: str) -> Callable[[str], Any]:
    """A parser from ``bridge.sandbox.simulate``, imported only when the option is given
    (the sandbox is imported by the ``demo`` and ``sandbox`` commands alone)."""

    def parse(text: str) -> Any:
        from bridge.sandbox import simulate

        return getattr(simulate, name)(text)

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segbridge",
        description="Customer segments for Magento Open Source, computed outside the shop.",
    )
    p.add_argument("--version", action="version", version=f"segbridge {__version__}")
    p.add_argument("--config", type=Path, default=None, help="config file (./segbridge.toml)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--wait", action="store_true", help="wait for the run lock instead of exit 4")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("check", help="validate config and mappings")
    s.add_argument("--online", action="store_true", help="also test connection and permissions")
    s.add_argument(
        "--rebind",
        action="store_true",
        help="with --online: accept a new shop identity for this store (after a domain move)",
    )

    s = sub.add_parser("sync", help="pull from Magento into the store")
    s.add_argument("--full", action="store_true", help="everything, and find deletions")
    s.add_argument("--entity", action="append", choices=[
        "customers", "orders", "carts", "groups", "wishlist", "product_views"])
    s.add_argument("--since", type=_when, metavar="WHEN")

    s = sub.add_parser("evaluate", help="compute memberships")
    s.add_argument("--as-of", type=_when, metavar="WHEN", dest="as_of")
    s.add_argument("segments", nargs="*", metavar="SEGMENT")

    s = sub.add_parser("plan", help="show the push plan; writes nothing")
    s.add_argument("--as-of", type=_when, metavar="WHEN", dest="as_of")

    s = sub.add_parser("push", help="apply the plan")
    s.add_argument("--as-of", type=_when, metavar="WHEN", dest="as_of")
    s.add_argument("--force", action="store_true", help="allow more than push.max_changes")

    s = sub.add_parser("run", help="sync + evaluate + push once")
    s.add_argument("--as-of", type=_when, metavar="WHEN", dest="as_of")
    s.add_argument("--force", action="store_true", help=argparse.SUPPRESS)
    s.add_argument(
        "--adopt", action="store_true", help="take customers found in managed groups as ours"
    )

    s = sub.add_parser("resync", help="full sync + evaluate + push")
    s.add_argument("--force", action="store_true", help="allow more than push.max_changes")
    s.add_argument(
        "--adopt", action="store_true", help="take customers found in managed groups as ours"
    )

    sub.add_parser("daemon", help="run [schedule] until SIGTERM/SIGINT")
    sub.add_parser("segments", help="list segments with member counts")

    s = sub.add_parser("members", help="export a segment's members")
    s.add_argument("segment", metavar="SEGMENT")
    s.add_argument("--format", choices=["table", "csv", "json"], default=None)
    s.add_argument("--output", type=Path, metavar="FILE")

    s = sub.add_parser("explain", help="why a customer is or is not in a segment")
    s.add_argument("segment", metavar="SEGMENT")
    s.add_argument("customer", metavar="CUSTOMER_ID_OR_EMAIL")
    s.add_argument("--as-of", type=_when, metavar="WHEN", dest="as_of")

    s = sub.add_parser("history", help="joins and leaves of a segment")
    s.add_argument("segment", metavar="SEGMENT")
    s.add_argument("--since", type=_when, metavar="WHEN")

    sub.add_parser("status", help="last runs, watermarks, quarantine, lock, unfinished push")

    s = sub.add_parser("report", help="a self-contained HTML report")
    s.add_argument("--output", type=Path, default=Path("segbridge-report.html"), metavar="FILE")

    s = sub.add_parser("demo", help="the embedded end-to-end run against the sandbox")
    s.add_argument("--dir", type=Path, default=None, help="where the demo keeps its files")
    s.add_argument("--customers", type=int, default=2000)

    s = sub.add_parser("sandbox", help="serve the Magento-compatible sandbox")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--customers", type=int, default=1000)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    s.add_argument(
        "--no-module", dest="module", action="store_false",
        help="serve a store without segbridge's storefront module (/V1/segbridge routes: 404)",
    )
    s.add_argument(
        "--simulate-days", type=_sandbox_arg("days_arg"), default=0, metavar="N",
        help="start the shop's clock N days back; POST /__sandbox/simulate plays them",
    )
    s.add_argument(
        "--uplift", type=_sandbox_arg("uplift_arg"), action="append", default=[],
        metavar="GROUP=SHARE",
        help="customers of this group order SHARE more often a day (repeatable), e.g. VIP=0.2",
    )

    sub.add_parser("attributes", help="every attribute, operator and option a condition can use")

    s = sub.add_parser("lift", help="treated vs held-out members of a segment with a holdout")
    s.add_argument("segment", metavar="SEGMENT")
    s.add_argument("--since", type=_when, metavar="WHEN",
                   help="count members who joined since (default: the first evaluation)")
    s.add_argument("--window", default="30d", metavar="AGE",
                   help="how long after joining a member's orders count, e.g. 30d")

    s = sub.add_parser("forget", help="erase what the store holds about a person")
    s.add_argument("customer", metavar="CUSTOMER_ID_OR_EMAIL")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    s = sub.add_parser("subject", help="print, as JSON, everything the store holds about a person")
    s.add_argument("customer", metavar="CUSTOMER_ID_OR_EMAIL")
    return p


def resolve(command: str) -> Callable[[CliContext, argparse.Namespace], int]:
    module, func = COMMANDS[command].split(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def _pipe_closed() -> int:
    """stdout was closed by its reader (``segbridge … | head``): what was asked for was
    read, so end quietly. Later writes (Python's own flush at exit) go nowhere."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (a test's capture)
        pass
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    verbosity = args.verbose - args.quiet
    # text until the config is read; CliContext.config() then applies [log] format
    setup_logging("text", level_for(verbosity))
    ctx = CliContext(
        config_path=args.config, json=args.json, wait=args.wait, verbosity=verbosity
    )
    from bridge.shutdown import Terminated, terminate_on_sigterm

    restore = terminate_on_sigterm() if args.command in LOCKING else (lambda: None)
    try:
        code = resolve(args.command)(ctx, args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except Terminated as exc:
        print(f"segbridge: {exc}; the run is recorded as interrupted and the next run "
              "finishes what it left", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:
        for problem in exc.problems:
            for line in safe_lines(problem):
                print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except SegbridgeError as exc:
        print("\n".join(safe_lines(f"segbridge: {exc}")), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("segbridge: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        line = _store_failure(ctx, exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_FAILED
    finally:
        restore()


def _store_failure(ctx: CliContext, exc: Exception) -> str | None:
    """A store error no command turned into a message (the database went away, a
    permission is missing): one line naming the store and the driver's cause."""
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    from bridge.output import safe
    from bridge.store.engine import cause_of, describe_store

    url = getattr(getattr(ctx._config, "store", None), "url", None)
    store = f"the store {describe_store(url)} (store.url)" if url else "the store"
    return f"segbridge: {store} failed: {safe(cause_of(exc))}"


if __name__ == "__main__":
    raise SystemExit(main())
