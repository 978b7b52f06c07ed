"""The checks that need every file at once: unique codes, segment references and their
cycles, managed groups tested by customer.group, priorities, push.max_managed_groups.
"""

from __future__ import annotations

from typing import Any

from bridge.segments.loader.messages import _q
from bridge.segments.model import Rule, Segment, walk_rules


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
