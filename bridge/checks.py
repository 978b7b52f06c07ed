"""``segbridge check``: the config and every segment file, and optionally the store.

Nothing is read from or written to Magento unless ``--online`` is given; then only
reads are made, through the client's read-only mode. ``--online`` also compares the
shop with the one this store belongs to (``bridge.identity``; ``--rebind`` records the
new one after a domain move) and verifies every name the files and the config use
against the shop: groups, website and store codes, store ids.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, ConfigError, SegbridgeError
from bridge.magento.errors import (
    AuthError,
    ConnectionFailedError,
    MagentoError,
    RequestTimeoutError,
)


def fatal(exc: BaseException) -> bool:
    """An error after which no other probe can tell more: the store cannot be reached, or
    it refused the credentials. Said once, by the command line, not once per probe."""
    if isinstance(exc, AuthError | ConnectionFailedError | RequestTimeoutError):
        return True
    if isinstance(exc, MagentoError):
        return bool(getattr(exc, "fatal", False))
    return isinstance(exc, SegbridgeError)  # not about one route (e.g. the store is unreachable)

OFFLINE_NAMES_WARNING = (
    "names not verified against the shop (customer groups in push.movable_groups and in "
    "customer.group conditions, website and store codes, CMS block store ids): "
    "`segbridge check --online` verifies them"
)

# customer.* string conditions whose values are whole codes (not substrings)
EXACT_OPERATORS = ("==", "!=", "()", "!()")


def collect_problems(config: Any) -> tuple[list[str], list[str]]:
    """Every problem and warning of the mappings under ``config`` (config already valid)."""
    from bridge.segments.loader import check_mappings

    problems, warnings = check_mappings(config)
    return list(problems), list(warnings)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'General'?)`` when one of ``choices`` is close, else ``""``; a
    look-alike character (a Cyrillic а) is spelt out, else both names print the same."""
    from bridge.segments.loader import look_alike_note

    pool = list(dict.fromkeys(str(c) for c in choices))
    folded = {c.casefold(): c for c in pool}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    note = look_alike_note(word, folded[close[0]], "'") if close else ""
    return f" (did you mean {folded[close[0]]!r}?{' ' + note if note else ''})" if close else ""


def _known(names: Iterable[str]) -> str:
    shown = sorted(dict.fromkeys(names), key=str.casefold)
    return ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "") if shown else "none"


@dataclass
class ShopNames:
    """The names a shop has, as ``check --online`` reads them."""

    groups: dict[str, tuple[int, str]] = field(default_factory=dict)  # folded code -> (id, code)
    websites: set[str] = field(default_factory=set)
    stores: dict[int, str] = field(default_factory=dict)  # store view id -> code (0: admin)


def _config_name(config: Any) -> str:
    path = getattr(config, "path", None)
    return str(path) if path else "config"


def _source(seg: Any, config: Any) -> str:
    from bridge.segments.loader import _display

    return _display(Path(seg.source), getattr(config, "base_dir", None))


def _leaves(seg: Any) -> list[Any]:
    from bridge.segments.model import walk_rules

    return walk_rules(seg.conditions)


def _exact_values(rule: Any) -> list[str]:
    if rule.operator not in EXACT_OPERATORS:
        return []
    values = rule.value if isinstance(rule.value, list | tuple) else [rule.value]
    return [str(v) for v in values if isinstance(v, str)]


def _group_codes(groups: Mapping[str, tuple[int, str]]) -> list[str]:
    """The codes a customer can have (not NOT LOGGED IN, group 0)."""
    return [code for gid, code in groups.values() if gid != 0]


def movable_group_problems(config: Any, groups: Mapping[str, tuple[int, str]]) -> list[str]:
    """A line for each ``push.movable_groups`` entry that is no group of the shop."""
    out: list[str] = []
    codes = _group_codes(groups)
    for name in config.push.movable_groups:
        if str(name).casefold() not in groups:
            out.append(
                f"{_config_name(config)}: push.movable_groups: {name!r} is not a customer group "
                f"of the shop{did_you_mean(str(name), codes)} (groups: {_known(codes)}); "
                "no customer in it could ever be moved"
            )
    return out


def name_problems(config: Any, segments: list[Any], shop: ShopNames) -> list[str]:
    """Every name the config and the segment files use that the shop does not have."""
    problems = movable_group_problems(config, shop.groups)
    group_codes = _group_codes(shop.groups)
    # groups the push creates (named by an active segment's [group]) are known too
    will_exist = {s.group.code.casefold() for s in segments if s.active and s.group}
    store_codes = [code for sid, code in shop.stores.items() if sid != 0]
    for seg in segments:
        where = _source(seg, config)
        if seg.website and seg.website not in shop.websites:
            problems.append(
                f"{where}: website: {seg.website!r} is not a website of the shop"
                f"{did_you_mean(seg.website, shop.websites)} (websites: {_known(shop.websites)})"
            )
        for rule in _leaves(seg):
            path = f"{rule.path or 'conditions'}.value"
            for value in _exact_values(rule):
                if rule.attribute == "customer.group":
                    if value.casefold() in shop.groups or value.casefold() in will_exist:
                        continue
                    problems.append(
                        f"{where}: {path}: customer.group {value!r} is not a customer group of "
                        f"the shop{did_you_mean(value, group_codes)} (groups: "
                        f"{_known(group_codes)}); the condition would match nobody"
                    )
                elif rule.attribute == "customer.website" and value not in shop.websites:
                    problems.append(
                        f"{where}: {path}: customer.website {value!r} is not a website code "
                        f"of the shop{did_you_mean(value, shop.websites)} (websites: "
                        f"{_known(shop.websites)})"
                    )
                elif rule.attribute == "customer.store" and value not in store_codes:
                    problems.append(
                        f"{where}: {path}: customer.store {value!r} is not a store view code "
                        f"of the shop{did_you_mean(value, store_codes)} (store views: "
                        f"{_known(store_codes)})"
                    )
        for i, block in enumerate(seg.cms_blocks):
            for sid in block.stores:
                if sid not in shop.stores:
                    shown = ", ".join(f"{k} ({v})" for k, v in sorted(shop.stores.items()))
                    problems.append(
                        f"{where}: cms_blocks[{i}].stores: {sid} is not a store view id of the "
                        f"shop (store views: {shown or 'none'}; 0 is every store view)"
                    )
    return problems


MERCHANT_GROUP_HELP = (
    "its members would get this segment's blocks and rules, and segbridge would manage the "
    "group from now on; nothing was done. If it is a merchant's group, name a new group in "
    "[group]. If adopting it is meant, or segbridge made it before its store was lost, set "
    "adopt = true in [group] (then `segbridge resync --adopt` takes the customers found in "
    "it as placed by segbridge)"
)


@dataclass
class GroupUse:
    """What the shop says about the groups a segment ``[group]`` names (``check --online``
    and every push's pre-flight): whose they look like."""

    ours: set[int] = field(default_factory=set)  # segbridge's, by the store or the shop
    holders: dict[int, int] = field(default_factory=dict)  # group id -> customers in it
    rules: dict[int, list[str]] = field(default_factory=dict)  # group id -> merchant rules


def adopt_problems(config: Any, segments: list[Any], groups: Mapping[str, tuple[int, str]],
                   use: GroupUse) -> list[str]:
    """A line for each segment ``[group]`` naming an existing group that is not
    segbridge's: one holding customers, or targeted by cart rules, segbridge did not make
    (without ``adopt = true``)."""
    out: list[str] = []
    for seg in segments:
        if not seg.active or seg.group is None or getattr(seg.group, "adopt", False):
            continue
        found = groups.get(seg.group.code.casefold())
        if found is None or found[0] in use.ours:
            continue
        n = use.holders.get(found[0], 0)
        rules = use.rules.get(found[0], [])
        if not n and not rules:
            continue
        what = []
        if n:
            what.append(f"holds {n} customer(s) segbridge has no record of putting there")
        if rules:
            shown = ", ".join(rules[:5]) + (", …" if len(rules) > 5 else "")
            what.append(f"is targeted by {len(rules)} cart price rule(s) segbridge did not "
                        f"make ({shown}), whose discounts the customers segbridge moves in "
                        "would get")
        out.append(
            f"{_source(seg, config)}: group.code: {found[1]!r} is an existing group of the "
            f"shop that {' and '.join(what)}; {MERCHANT_GROUP_HELP}"
        )
    return out


def _store_ours(engine: Any) -> set[int]:
    """Group ids the store records as segbridge's: managed (named by a segment file and
    pushed), or written customers into."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from bridge.store.push_tables import PushCustomer, PushGroup

    ids: set[int] = set()
    if engine is None:
        return ids
    try:
        with Session(engine) as s:
            ids.update(int(g) for g in s.scalars(select(PushGroup.group_id)))
            ids.update(
                int(g) for g in s.scalars(
                    select(PushCustomer.written_group_id).distinct()
                    .where(PushCustomer.written_group_id.is_not(None)))
            )
    except Exception:  # noqa: BLE001 - a store without these tables knows nothing
        pass
    return ids


BLOCK_GROUP = re.compile(r"--group-(\d+)$", re.IGNORECASE)


def group_use(engine: Any, client: Any, gids: Iterable[int]) -> GroupUse:
    """Whose the groups ``gids`` look like. The store answers first (no request); for the
    rest the shop: segbridge's when its marked cart rules (``segbridge:`` at the start of
    the description) or its ``<slot>--group-<id>`` CMS blocks are there for the group (a
    lost store still knows them); else the customers in it and the other rules on it."""
    from bridge.magento.search import SearchCriteria

    use = GroupUse(ours=_store_ours(engine))
    left = set(gids) - use.ours
    if not left:
        return use
    for rule in client.search_sales_rules(SearchCriteria()):
        targets = {int(g) for g in rule.get("customer_group_ids") or []} & left
        if not targets:
            continue
        if str(rule.get("description") or "").startswith("segbridge:"):
            use.ours |= targets
            continue
        label = f"{rule.get('name')!r} (id {rule.get('rule_id')})"
        for gid in targets:
            use.rules.setdefault(gid, []).append(label)
    crit = SearchCriteria().where("identifier", "like", "%--group-%")
    for block in client.search_cms_blocks(crit, "all"):
        m = BLOCK_GROUP.search(str(block.get("identifier") or ""))
        if m and int(m.group(1)) in left:
            use.ours.add(int(m.group(1)))
    use.holders = _holders(client, sorted(left - use.ours))
    return use


def merchant_group_problems(
    engine: Any, client: Any, config: Any, segments: list[Any],
    groups: Mapping[str, tuple[int, str]],
) -> list[str]:
    """``check --online`` and the pre-flight of ``push``/``run``/``resync``: a line for each
    segment ``[group]`` naming a merchant's group without ``adopt = true``. Nothing is
    asked of the shop when every named group is new or the store's own."""
    named = {
        groups[s.group.code.casefold()][0] for s in segments
        if s.active and s.group and not getattr(s.group, "adopt", False)
        and s.group.code.casefold() in groups
    }
    if not named:
        return []
    return adopt_problems(config, segments, groups, group_use(engine, client, named))


def remember_named_groups(engine: Any, segments: list[Any],
                          groups: Mapping[str, tuple[int, str]]) -> None:
    """After a pre-flight that passed: the existing groups active segments name are
    segbridge's from now on (recorded, not created), so later runs ask the shop nothing."""
    from sqlalchemy.orm import Session

    from bridge.store.push_tables import PushGroup
    from bridge.timeutil import utcnow

    named = {s.group.code.casefold() for s in segments if s.active and s.group}
    with Session(engine) as s, s.begin():
        for folded in sorted(named & set(groups)):
            if s.get(PushGroup, folded) is None:
                gid, code = groups[folded]
                s.add(PushGroup(code_ci=folded, code=code, group_id=gid, created=False,
                                recorded_at=utcnow()))


def _holders(client: Any, gids: Iterable[int]) -> dict[int, int]:
    from bridge.magento.search import SearchCriteria

    out: dict[int, int] = {}
    for gid in gids:
        page = client.search_customers_page(SearchCriteria().where("group_id", gid).page_size(1))
        out[gid] = int(page.total_count)
    return out


def _existing_store(config: Any) -> Any:
    """The store's engine if the store exists (it is never created by ``check``)."""
    from sqlalchemy.engine import make_url

    from bridge.store.engine import make_engine

    url = make_url(config.store.url)
    if url.get_backend_name() == "sqlite":
        db = url.database
        if not db or db == ":memory:" or not Path(db).exists():
            return None
    try:
        return make_engine(config.store.url)
    except Exception:  # noqa: BLE001 - a store that cannot be opened has nothing to compare
        return None


@dataclass
class OnlineResult:
    probes: list[tuple[str, bool, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebind_to: Any = None  # --rebind: the identity to record once the whole check passed
    rebind_from: Any = None
    module: dict[str, Any] | None = None  # what GET /V1/segbridge/info said (JSON output)


def module_probe(client: Any, config: Any, result: OnlineResult) -> None:
    """The storefront module: its version and parts, in one line. A store without it is
    said in one line, not as a failure, unless ``module.use = "on"`` requires it."""
    from bridge.magento.module import ModuleAnswerError, ModuleNotGrantedError, module_info
    from bridge.push.bulk import describe

    module_cfg = getattr(config, "module", None)
    use = str(getattr(module_cfg, "use", "auto"))
    bulk = bool(getattr(module_cfg, "group_assignments", True))
    name = "storefront module (Segbridge_SegmentBlock::api)"
    state: dict[str, Any] = {"installed": False, "granted": False, "version": None,
                             "features": [], "use": use, "group_assignments": False}
    result.module = state
    try:
        info = module_info(client)
    except ModuleNotGrantedError as exc:
        state["installed"] = True
        line = f"storefront module: installed, but {str(exc).split(', but ', 1)[-1]}"
        if use == "on":
            result.probes.append((name, False, line + ' (module.use = "on" requires it)'))
        else:
            result.notes.append(line + "; until then the push moves customers one GET and "
                                       "PUT each")
        return
    except ModuleAnswerError as exc:
        result.probes.append((name, False, f"GET /V1/segbridge/info answered something that "
                                           f"is not the module's answer: {exc}"))
        return
    if info is None:
        line = ("storefront module: not installed (GET /V1/segbridge/info: no such route); "
                "the push moves customers one GET and PUT each")
        if use == "on":
            result.probes.append((name, False, 'not installed, and module.use = "on" requires '
                                               "it: install it (docs/push.md) or set "
                                               'module.use = "auto"'))
        else:
            result.notes.append(line)
        return
    state.update(installed=True, granted=True, version=info.version,
                 features=sorted(info.features))
    if use == "off":
        how = 'not used (module.use = "off")'
    elif not bulk:
        how = ("the push moves customers one GET and PUT each (module.group_assignments = "
               "false)")
    elif not info.has("group_assignments"):
        how = "its group assignments part is off: the push moves customers one GET and PUT each"
        if use == "on":
            result.probes.append((name, False, f"{describe(info)}: {how}, and module.use = "
                                               '"on" requires it'))
            return
    else:
        state["group_assignments"] = True
        how = (f"the push moves customers up to {min(1000, info.max_group_assignments)} a "
               "request through it")
    result.probes.append((name, True, "ok"))
    result.notes.append(f"storefront module: {describe(info)}; {how}")


def online_checks(config: Any, segments: list[Any] | None = None, *,
                  rebind: bool = False) -> OnlineResult:
    """Read-only probes of the store: the shop's identity, connection, auth, each
    permission segbridge uses, then the names the files use."""
    from bridge.identity import (
        WrongShop,
        read_identity,
        rebind_line,
        recorded_identity,
        same_shop,
        wrong_shop_line,
    )
    from bridge.magento.client import MagentoClient
    from bridge.magento.search import SearchCriteria
    from bridge.push.inputs import group_index
    from bridge.push.remote import Remote

    result = OnlineResult()
    client = MagentoClient(config.magento, read_only=True)
    engine = None
    try:
        # the first contact: an unreachable store or refused credentials end the check here
        current = read_identity(client, str(config.magento.base_url))
        engine = _existing_store(config)
        recorded = recorded_identity(engine) if engine is not None else None
        if rebind:  # recorded by cmd_check, after the output, only if the check passed
            result.rebind_from, result.rebind_to = recorded, current
            result.notes.append(rebind_line(recorded, current))
        elif recorded is not None and not same_shop(recorded, current):
            raise WrongShop([wrong_shop_line(recorded, current)])
        remote = Remote(client)
        probes: list[tuple[str, Any]] = [
            ("store websites (Magento_Backend::store)", lambda: client.websites()),
            ("customers (Magento_Customer::customer)", lambda: client.search_customers_page(
                SearchCriteria().page_size(1))),
            ("customer groups (Magento_Customer::group)",
             lambda: client.search_customer_groups_page(SearchCriteria().page_size(1))),
            ("orders (Magento_Sales::sales)", lambda: client.search_orders_page(
                SearchCriteria().page_size(1))),
            ("carts (Magento_Cart::manage)", lambda: client.search_carts_page(
                SearchCriteria().page_size(1))),
            ("CMS blocks (Magento_Cms::block)", lambda: client.search_cms_blocks_page(
                SearchCriteria().page_size(1), "all")),
            ("cart price rules (Magento_SalesRule::quote)",
             lambda: client.search_sales_rules_page(SearchCriteria().page_size(1))),
        ]
        for name, probe in probes:
            try:
                probe()
                result.probes.append((name, True, "ok"))
            except SegbridgeError as exc:
                if fatal(exc):
                    raise
                result.probes.append((name, False, str(exc)))
            except Exception as exc:  # a probe must report, not crash the check
                result.probes.append((name, False, f"{type(exc).__name__}: {exc}"))
        try:
            module_probe(client, config, result)
        except SegbridgeError as exc:
            if fatal(exc):
                raise
            result.probes.append(("storefront module (Segbridge_SegmentBlock::api)", False,
                                  str(exc)))
        from bridge.sync.module_data import check_problems  # wishlist / viewed conditions

        result.problems += check_problems(config, segments or [], result.module)
        from bridge.push.catalog import online_problems  # [[catalog_rules]]

        result.problems += online_problems(config, segments or [], result.module)
        if segments is None or not all(passed for _n, passed, _d in result.probes):
            return result
        groups = group_index(remote.groups())
        shop = ShopNames(
            groups=groups,
            websites={str(w["code"]) for w in client.websites() if int(w.get("id") or 0)},
            stores={int(s["id"]): str(s["code"]) for s in client.store_views()},
        )
        result.problems += name_problems(config, segments, shop)
        result.problems += merchant_group_problems(engine, client, config, segments, groups)
        return result
    finally:
        client.close()
        if engine is not None:
            engine.dispose()


def _rebind(ctx: Any, config: Any, online: OnlineResult, ok: bool) -> None:
    """``--rebind``: record the new identity, said after what it replaces, and only when
    the whole check passed (a check ending non-zero records nothing)."""
    from bridge.identity import record_identity
    from bridge.store.engine import open_store

    was = online.rebind_from
    if not ok:
        line = ("--rebind: nothing recorded, since the check found problems; the store "
                + (f"still belongs to the shop at {was.describe()}" if was is not None
                   else "has no shop yet"))
    else:
        engine = open_store(config.store.url)
        try:
            record_identity(engine, online.rebind_to)
        finally:
            engine.dispose()
        line = f"this store now belongs to the shop at {online.rebind_to.describe()}" + (
            f" (was {was.describe()})" if was is not None and was != online.rebind_to else "")
    if not ctx.json:
        print(line, file=sys.stdout if ok else sys.stderr)


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
    folder = Path(config.mappings.dir)
    if not problems and folder.is_dir() and not any(folder.glob("*.toml")):
        from bridge.segments.loader.files import empty_mappings_line

        warnings.append(empty_mappings_line(config).replace("; refused,", "; plan, push and "
                                                           "run refuse it,"))
    online = OnlineResult()
    if not problems and args.online:
        from bridge.segments.loader import load_segments

        try:
            online = online_checks(config, load_segments(config.mappings.dir, config),
                                   rebind=bool(getattr(args, "rebind", False)))
        except SegbridgeError as exc:
            if not ctx.json:
                raise  # one line, by the command line, with the error's exit code
            lines = list(exc.problems) if isinstance(exc, ConfigError) else [str(exc)]
            ctx.emit_json({"ok": False, "problems": lines, "warnings": warnings,
                           "notes": [], "online": []})
            return int(exc.exit_code)
        problems += online.problems
    elif getattr(args, "rebind", False):
        problems.append("--rebind: only with --online (it records the shop the store reaches)")
    if not args.online and not problems:
        warnings.append(OFFLINE_NAMES_WARNING)
    ok = not problems and all(passed for _, passed, _ in online.probes)
    if ctx.json:
        ctx.emit_json(
            {
                "ok": ok,
                "problems": problems,
                "warnings": warnings,
                "notes": online.notes,
                "online": [{"check": n, "ok": p, "detail": d} for n, p, d in online.probes],
                "module": online.module,
            }
        )
    else:
        for line in problems:
            print(line, file=sys.stderr)
        for line in warnings:
            print(f"warning: {line}", file=sys.stderr)
        for name, passed, detail in online.probes:
            print(f"{'ok  ' if passed else 'FAIL'} {name}" + ("" if passed else f": {detail}"))
        for line in online.notes:
            print(line)
        if ok and not ctx.quiet:
            print(f"{config.path or 'config'}: ok")
    if online.rebind_to is not None:
        _rebind(ctx, config, online, ok)
    if problems:
        return EXIT_BAD_INPUT
    return EXIT_OK if ok else EXIT_FAILED
