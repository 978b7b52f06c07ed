"""Load `mappings/*.toml` into the typed model, reporting every problem at once.

Each problem is one line ``FILE: KEY.PATH: what is wrong`` so a merchant
fixes a whole directory in one pass; nothing is evaluated or pushed while any remain.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.segments.loader.conditions import _combine, _Context, _count_leaves
from bridge.segments.loader.content import OUTSIDE
from bridge.segments.loader.messages import _display as _display
from bridge.segments.loader.messages import (
    _Err,
    _os_reason,
    _Problems,
    _q,
    _unknown_keys,
    did_you_mean,
    escaped,
    look_alike_note,
)
from bridge.segments.loader.schema import (
    AGE_RE,
    BLOCK_KEYS,
    CODE_RE,
    COMBINE_KEYS,
    EARLIEST_DAY,
    GROUP_KEYS,
    GROUP_MARKER,
    LATEST_DAY,
    LEAF_KEYS,
    MAX_AGE_DAYS,
    MAX_AMOUNT,
    MAX_CONTENT_BYTES,
    MAX_COUNT,
    MAX_DEPTH,
    MAX_DESCRIPTION,
    MAX_FILE_BYTES,
    MAX_LEAVES,
    MAX_LIST,
    MAX_NAME,
    MAX_SHOWN,
    MAX_SLOT_LENGTH,
    MAX_WEBSITE_CODE,
    OPERATOR_ALIASES,
    OPS_TEXT,
    OPTION_KEYS,
    PERIOD_HINT,
    PRICE_OPERATORS,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    SLOT_RE,
    TOP_KEYS,
)
from bridge.segments.loader.tables import _cart_rules, _cms_blocks
from bridge.segments.loader.text import (
    EMAIL_RE,
    ISO_DATE_RE,
    PHONE_RE,
    _invisible_characters,
    _max_length,
    _no_nul,
    _no_personal_data,
)
from bridge.segments.loader.values import _bool, _str
from bridge.segments.model import MAX_GROUP_CODE, GroupSpec, Rule, Segment, walk_rules

__all__ = [
    "AGE_RE",
    "BLOCK_KEYS",
    "CODE_RE",
    "COMBINE_KEYS",
    "EARLIEST_DAY",
    "EMAIL_RE",
    "GROUP_KEYS",
    "GROUP_MARKER",
    "ISO_DATE_RE",
    "LATEST_DAY",
    "LEAF_KEYS",
    "MAX_AGE_DAYS",
    "MAX_AMOUNT",
    "MAX_CONTENT_BYTES",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_DESCRIPTION",
    "MAX_FILE_BYTES",
    "MAX_LEAVES",
    "MAX_LIST",
    "MAX_NAME",
    "MAX_SHOWN",
    "MAX_SLOT_LENGTH",
    "MAX_WEBSITE_CODE",
    "OPERATOR_ALIASES",
    "OPS_TEXT",
    "OPTION_KEYS",
    "OUTSIDE",
    "PERIOD_HINT",
    "PHONE_RE",
    "PRICE_OPERATORS",
    "RULE_KEYS",
    "SIMPLE_ACTIONS",
    "SLOT_RE",
    "TOP_KEYS",
    "check_mappings",
    "did_you_mean",
    "escaped",
    "load_segments",
    "load_segments_with_warnings",
    "look_alike_note",
    "parse_segment",
    "segments_from_dicts",
]


def parse_segment(
    data: dict[str, Any], source: Path, config: Any, out: _Problems, mappings_dir: Path
) -> Segment | None:
    """One file's segment (None when it has problems, all reported to ``out``)."""
    _unknown_keys(data, TOP_KEYS, "", out)
    _no_nul(data, out)
    code = data.get("code")
    if _invisible_characters(code, "code", "the segment", out):
        code = None
    elif not isinstance(code, str) or not CODE_RE.fullmatch(code):
        out.add(
            "code",
            f"{_q(code) if code is not None else 'missing'}: "
            "is required and must match [a-z0-9_-]+",
        )
        code = None
    elif len(code) > 64:
        out.add("code", "is longer than 64 characters")
    name = _str(data, "name", code or "", "", out) or (code or "")
    description = _str(data, "description", "", "", out) or ""
    for key, text in (("code", code), ("name", data.get("name")), ("description", description)):
        _no_personal_data(text, key, out)
    active = _bool(data, "active", True, "", out)
    website = _str(data, "website", None, "", out)
    _max_length(website, "website", MAX_WEBSITE_CODE, out)
    _max_length(data.get("name"), "name", MAX_NAME, out)
    _max_length(description, "description", MAX_DESCRIPTION, out)
    if website is not None and not website.strip():
        out.add("website", "is empty: omit it for every website")
        website = None
    priority = data.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        out.add("priority", f"{_q(priority)} is not a whole number")
        priority = 0
    since = None
    try:
        from bridge.timeutil import parse_age

        since = parse_age(config.sync.since) if config is not None else None
    except (AttributeError, ValueError):
        since = None
    ctx = _Context(config=config, out=out, since=since)
    if "conditions" not in data:
        out.add("conditions", "is required (the root combine: match, value, rules)")
        conditions = None
    else:
        leaves = _count_leaves(data["conditions"])
        if leaves > MAX_LEAVES:
            # said once, before thousands of leaves are each checked and reported
            out.add("conditions", f"has {leaves} conditions, more than {MAX_LEAVES}")
            conditions = None
        else:
            conditions = _combine(data["conditions"], "conditions", ctx)
    group = None
    if "group" in data:
        g = data["group"]
        if not isinstance(g, dict):
            out.add("group", "must be a table with code")
        else:
            _unknown_keys(g, GROUP_KEYS, "group", out)
            adopt = _bool(g, "adopt", False, "group.", out)
            gcode = g.get("code")
            _no_personal_data(gcode, "group.code", out)
            if not isinstance(gcode, str) or not gcode.strip():
                out.add("group.code", "is required (the customer group's code)")
            elif _invisible_characters(gcode, "group.code", "the group", out):
                pass
            elif len(gcode) > MAX_GROUP_CODE:
                out.add(
                    "group.code",
                    f"{_q(gcode)} is longer than {MAX_GROUP_CODE} characters (Magento's limit)",
                )
            elif gcode.casefold() == "not logged in":
                out.add("group.code", "NOT LOGGED IN (group 0) is never assigned")
            else:
                movable = tuple(getattr(getattr(config, "push", None), "movable_groups", ()) or ())
                if gcode.casefold() in {m.casefold() for m in movable}:
                    out.add(
                        "group.code",
                        f"{_q(gcode)} is one of push.movable_groups; a segment's group must be a "
                        "group of its own",
                    )
                else:
                    group = GroupSpec(gcode, adopt=adopt)
    blocks = _cms_blocks(data["cms_blocks"], mappings_dir, out) if "cms_blocks" in data else []
    cart_rules = _cart_rules(data["cart_rules"], out) if "cart_rules" in data else []
    if "group" not in data:
        if "cms_blocks" in data:
            out.add("cms_blocks", "needs a [group] in the same file (blocks are shown per group)")
        if "cart_rules" in data:
            out.add("cart_rules", "needs a [group] in the same file (rules apply per group)")
    if code is None or conditions is None:
        return None
    return Segment(
        code=code,
        name=name,
        description=description,
        active=active,
        website=website,
        priority=priority,
        conditions=conditions,
        group=group,
        cms_blocks=blocks,
        cart_rules=cart_rules,
        source=source,
        raw=data,
    )


def _check_together(
    segments: list[Segment], names: dict[str, str], config: Any, problems: list[str]
) -> None:
    """The checks that need every file: unique codes, references, cycles, groups."""
    by_code: dict[str, Segment] = {}
    for seg in segments:
        if seg.code in by_code:
            problems.append(
                f"{names[seg.code + '@' + str(seg.source)]}: code: {_q(seg.code)} "
                "is also the code of "
                f"{names[seg.code + '@' + str(by_code[seg.code].source)]}"
            )
            continue
        by_code[seg.code] = seg
    active = {c: s for c, s in by_code.items() if s.active}

    def where(seg: Segment) -> str:
        return names[seg.code + "@" + str(seg.source)]

    managed: dict[str, str] = {}
    for seg in active.values():
        if seg.group:
            managed.setdefault(seg.group.code.casefold(), seg.code)

    for seg in by_code.values():
        for rule in walk_rules(seg.conditions):
            if rule.attribute == "segment":
                for i, ref in enumerate(rule.value):
                    p = f"{where(seg)}: {rule.path}.value"
                    p = p if len(rule.value) == 1 else f"{p}[{i}]"
                    if ref not in by_code:
                        problems.append(f"{p}: {_q(ref)} is not a segment code")
                    elif seg.active and ref not in active:
                        problems.append(f"{p}: segment {_q(ref)} is not active")
                    elif ref == seg.code:
                        problems.append(f"{p}: a segment cannot refer to itself")
            elif rule.attribute == "customer.group" and seg.active:
                for gcode in _managed_matches(rule, managed):
                    problems.append(
                        f"{where(seg)}: {rule.path}: group {_q(gcode)} is managed by segbridge "
                        f"(segment {managed[gcode.casefold()]}); test membership with a "
                        "segment condition instead"
                    )

    # cycles among active segments (self-reference reported above)
    graph = {
        c: sorted(r for r in s.references if r in active and r != c) for c, s in active.items()
    }
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    problems.append(
                        f"{where(active[nxt])}: conditions: segment references form a cycle: "
                        + " → ".join(cycle)
                    )
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for code in sorted(graph):
        if code not in state:
            visit(code)

    grouped = sorted((s for s in active.values() if s.group), key=lambda s: s.code)
    for i, a in enumerate(grouped):
        for b in grouped[i + 1 :]:
            if a.priority == b.priority and (
                a.website is None or b.website is None or a.website == b.website
            ):
                problems.append(
                    f"{where(b)}: priority: {b.priority} equals the priority of {a.code} "
                    f"({where(a)}); two segments with a [group] need different priorities "
                    "unless their websites differ"
                )
    limit = getattr(getattr(config, "push", None), "max_managed_groups", None)
    if limit is not None and len(managed) > limit:
        problems.append(
            f"{names.get('@dir', 'mappings')}: group: active segments name {len(managed)} groups "
            f"({', '.join(sorted(managed))}), more than push.max_managed_groups = {limit}"
        )


def _managed_matches(rule: Rule, managed: dict[str, str]) -> list[str]:
    """Managed group codes (folded) that a positive customer.group test would match."""
    if rule.operator == "==":
        values = [rule.value]
    elif rule.operator == "()":
        values = list(rule.value)
    elif rule.operator == "{}":
        needle = rule.value.casefold()
        return [g for g in managed if needle in g]
    else:
        return []
    return [v.casefold() for v in values if v.casefold() in managed]


def _read_toml(path: Path) -> dict[str, Any] | _Err:
    """One segment file's table, or one line saying why it cannot be read.

    tomllib recurses once per nested inline table or array, so a deeply nested file
    ends in RecursionError; a huge integer literal in ValueError. Neither is a traceback.
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        with path.open("rb") as fh:
            text = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _Err(f"cannot read: {_os_reason(exc)}")
    if len(text) > MAX_FILE_BYTES:
        return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _Err(f"not valid TOML: not UTF-8 text (byte {exc.start})")
    except tomllib.TOMLDecodeError as exc:
        return _Err(f"not valid TOML: {exc}")
    except RecursionError:
        return _Err("not valid TOML for segbridge: tables or arrays nest too deeply")
    except ValueError as exc:  # Python refuses to read integers of more than 4300 digits
        if "digits" in str(exc):
            return _Err("not valid TOML for segbridge: a number has thousands of digits")
        return _Err(f"not valid TOML: {_q(str(exc))}")


def _read_all(directory: Path, config: Any) -> tuple[list[Segment], list[str], list[str]]:
    base = getattr(config, "base_dir", None) if config is not None else None
    problems: list[str] = []
    warnings: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": _display(directory, base)}
    if not directory.is_dir():
        return [], [f"{_display(directory, base)}: mappings directory not found"], []
    for path in sorted(directory.glob("*.toml")):
        if _editor_file(path.name):
            continue
        shown = _display(path, base)
        out = _Problems(shown)
        data = _read_toml(path)
        if isinstance(data, _Err):
            problems.append(f"{shown}: {data.message}")
            continue
        seg = parse_segment(data, path, config, out, directory)
        problems.extend(out.problems)
        warnings.extend(out.warnings)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(path)] = shown
    _check_together(segments, names, config, problems)
    return segments, problems, warnings


def _editor_file(name: str) -> bool:
    """A hidden or editor file, not a segment file: names starting with "." (Emacs' lock
    link .#vip.toml, vim's .vip.toml.swp, LibreOffice's .~lock) or "~", or ending in "~"
    (backups). pathlib's glob matches hidden files, which a shell's does not."""
    return name.startswith((".", "~")) or name.endswith("~")


def check_mappings(config: Any, directory: Path | None = None) -> tuple[list[str], list[str]]:
    """(problems, warnings) for ``segbridge check``; problems make it exit 2."""
    directory = directory or config.mappings.dir
    _segments, problems, warnings = _read_all(Path(directory), config)
    return problems, warnings


def load_segments(directory: Path, config: Any) -> list[Segment]:
    """Every segment file in ``directory``, validated; raises ConfigError with all problems."""
    segments, problems, _warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments


def load_segments_with_warnings(directory: Path, config: Any) -> tuple[list[Segment], list[str]]:
    segments, problems, warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments, warnings


def segments_from_dicts(
    datas: list[dict[str, Any]], config: Any, mappings_dir: Path | None = None
) -> list[Segment]:
    """Segments from already-parsed TOML tables (tests, tools), validated like files."""
    problems: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": "<memory>"}
    for i, data in enumerate(datas):
        shown = f"<segment {data.get('code', i)}>"
        out = _Problems(shown)
        source = Path(f"{data.get('code', i)}.toml")
        seg = parse_segment(data, source, config, out, mappings_dir or Path.cwd())
        problems.extend(out.problems)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(source)] = shown
    _check_together(segments, names, config, problems)
    if problems:
        raise ConfigError(problems)
    return segments
