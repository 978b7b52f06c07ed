"""Checks of the mappings that only the push cares about (for ``segbridge check`` too)."""

from __future__ import annotations

from typing import Any

from bridge.push.plan import MAX_GROUP_CODE


def mapping_problems(config: Any, segments: list[Any]) -> list[str]:
    """Group codes over 32 characters, and more managed groups than allowed.

    ``push.max_managed_groups`` caps the distinct groups named by active segment files
    (case-insensitively, as Magento compares codes).
    """
    problems: list[str] = []
    named: dict[str, str] = {}
    for seg in segments:
        if not seg.active or seg.group is None:
            continue
        code = seg.group.code
        if len(code) > MAX_GROUP_CODE:
            problems.append(
                f"{seg.source}: group.code: {code!r} is longer than {MAX_GROUP_CODE} "
                "characters (Magento would cut it short silently)"
            )
        named.setdefault(code.casefold(), code)
    limit = int(config.push.max_managed_groups)
    if len(named) > limit:
        problems.append(
            f"{config.path or 'config'}: push.max_managed_groups: the active segment files "
            f"name {len(named)} customer groups ({', '.join(sorted(named.values()))}), "
            f"more than {limit}"
        )
    return problems
