"""``fields=`` as Magento 2.4 reads it: the projection of an answer to the keys a caller
names (``items[id,email],total_count``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def parse_fields(text: str) -> dict[str, Any]:
    """``items[id,email,addresses[city]],total_count`` -> nested dict of wanted keys."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        name = ""
        while pos < len(text):
            ch = text[pos]
            pos += 1
            if ch == ",":
                if name.strip():
                    out[name.strip()] = None
                name = ""
            elif ch == "[":
                out[name.strip()] = parse_list()
                name = ""
            elif ch == "]":
                break
            else:
                name += ch
        if name.strip():
            out[name.strip()] = None
        return out

    return parse_list()


@functools.lru_cache(maxsize=64)
def fields_spec(text: str) -> dict[str, Any]:
    """``parse_fields`` once per distinct ``fields=`` text (a sync sends the same one on
    every page). The result is shared: do not change it."""
    return parse_fields(text)


def apply_fields(value: Any, spec: dict[str, Any] | None) -> Any:
    """``value`` with only the keys ``spec`` names (nested; keys keep their order)."""
    return compile_fields(spec)(value)


@functools.lru_cache(maxsize=64)
def fields_projection(text: str, trimmed: str | None = None) -> Callable[[Any], Any]:
    """``apply_fields`` with the spec of a ``fields=`` text, compiled once per text;
    ``trimmed``: a top-level key whose value is already trimmed (taken as it is)."""
    spec = fields_spec(text)
    if trimmed is not None and trimmed in spec:
        spec = {**spec, trimmed: None}
    return compile_fields(spec)


def compile_fields(spec: dict[str, Any] | None) -> Callable[[Any], Any]:
    """A function that does ``apply_fields(value, spec)``: the spec is walked once here,
    not at every value, and a level that names only leaves (an order item, an address)
    is one dict comprehension."""
    if spec is None:
        return _same
    leaves = frozenset(k for k, sub in spec.items() if sub is None)
    nested = {k: compile_fields(sub) for k, sub in spec.items() if sub is not None}

    def project(value: Any) -> Any:
        if type(value) is list:
            return [project(v) for v in value]
        if type(value) is not dict:
            return project_other(value)
        if not nested:
            return {k: v for k, v in value.items() if k in leaves}
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in leaves:
                out[k] = v
            elif k in nested:
                # a value that is neither a list nor a dict is taken as it is
                out[k] = nested[k](v) if isinstance(v, list | dict) else v
        return out

    def project_other(value: Any) -> Any:
        if isinstance(value, list):  # subclasses, as the plain types above
            return [project(v) for v in value]
        if isinstance(value, dict):
            return project(dict(value))
        return value

    return project


def _same(value: Any) -> Any:
    return value
