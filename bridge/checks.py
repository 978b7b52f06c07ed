"""``segbridge check``: the config and every segment file, and optionally the store.

Nothing is read from or written to Magento unless ``--online`` is given; then only
reads are made, through the client's read-only mode.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bridge.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, ConfigError, SegbridgeError


def collect_problems(config: Any) -> tuple[list[str], list[str]]:
    """Every problem and warning of the mappings under ``config`` (config already valid)."""
    from bridge.segments.loader import check_mappings

    problems, warnings = check_mappings(config)
    return list(problems), list(warnings)


def online_checks(config: Any) -> list[tuple[str, bool, str]]:
    """Read-only probes of the store: connection, auth, and each permission segbridge uses."""
    from bridge.magento.client import MagentoClient
    from bridge.magento.search import SearchCriteria

    client = MagentoClient(config.magento, read_only=True)
    probes: list[tuple[str, Any]] = [
        ("store websites (Magento_Backend::store)", lambda: client.websites()),
        ("customers (Magento_Customer::customer)", lambda: client.search_customers_page(
            SearchCriteria().page_size(1))),
        ("customer groups (Magento_Customer::group)", lambda: client.search_customer_groups_page(
            SearchCriteria().page_size(1))),
        ("orders (Magento_Sales::sales)", lambda: client.search_orders_page(
            SearchCriteria().page_size(1))),
        ("carts (Magento_Cart::manage)", lambda: client.search_carts_page(
            SearchCriteria().page_size(1))),
        ("CMS blocks (Magento_Cms::block)", lambda: client.search_cms_blocks_page(
            SearchCriteria().page_size(1), "all")),
        ("cart price rules (Magento_SalesRule::quote)", lambda: client.search_sales_rules_page(
            SearchCriteria().page_size(1))),
    ]
    results: list[tuple[str, bool, str]] = []
    for name, probe in probes:
        try:
            probe()
            results.append((name, True, "ok"))
        except SegbridgeError as exc:
            results.append((name, False, str(exc)))
        except Exception as exc:  # a probe must report, not crash the check
            results.append((name, False, f"{type(exc).__name__}: {exc}"))
    return results


def cmd_check(ctx: Any, args: argparse.Namespace) -> int:
    try:
        config = ctx.config()
    except ConfigError as exc:
        problems = list(exc.problems)
        if ctx.json:
            ctx.emit_json({"ok": False, "problems": problems, "warnings": []})
        else:
            for line in problems:
                print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    problems, warnings = collect_problems(config)
    online: list[tuple[str, bool, str]] = []
    if not problems and args.online:
        online = online_checks(config)
    ok = not problems and all(passed for _, passed, _ in online)
    if ctx.json:
        ctx.emit_json(
            {
                "ok": ok,
                "problems": problems,
                "warnings": warnings,
                "online": [{"check": n, "ok": p, "detail": d} for n, p, d in online],
            }
        )
    else:
        for line in problems:
            print(line, file=sys.stderr)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        for name, passed, detail in online:
            print(f"{'ok  ' if passed else 'FAIL'} {name}" + ("" if passed else f": {detail}"))
        if ok and not ctx.quiet:
            print(f"{config.path or 'config'}: ok")
    if problems:
        return EXIT_BAD_INPUT
    return EXIT_OK if ok else EXIT_FAILED
