"""Fuzz: generated segment files thrown at `check` and at `evaluate` (issue 17).

Valid and broken TOML, random keys and values, deep nesting, huge numbers, hostile
strings (control characters, NUL, quotes, SQL, path tricks, very long text). The
promise: no traceback, ever; every refusal is one line that names the file and a key
(or says the file as a whole is unreadable); every file that passes `check` evaluates,
on whichever database SEGBRIDGE_TEST_DB names, exactly as the reference evaluator says.

``SEGBRIDGE_FUZZ_EXAMPLES`` raises the number of examples (default 250 for check and
40 for evaluate: about 20 s together on SQLite).
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from bridge.config import Config, SyncConfig
from bridge.errors import ConfigError
from bridge.segments.attributes import ATTRIBUTES
from bridge.segments.evaluate import compute_memberships, evaluate
from bridge.segments.loader import (
    BLOCK_KEYS,
    COMBINE_KEYS,
    OPTION_KEYS,
    RULE_KEYS,
    TOP_KEYS,
    check_mappings,
    load_segments,
)
from bridge.segments.model import OPERATORS
from bridge.segments.reference import Reference, load_customer
from bridge.segments.testing import random_shop, write_shop

EXAMPLES = int(os.environ.get("SEGBRIDGE_FUZZ_EXAMPLES", "250"))
EVAL_EXAMPLES = max(10, EXAMPLES // 6)
AS_OF = datetime(2026, 3, 15, 12, 0, 0)
CFG = Config(sync=SyncConfig(customer_attributes=("loyalty_tier",), cart_totals=True))
SETTINGS: dict[str, Any] = dict(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("SEGBRIDGE_FUZZ_RANDOM") is None,
)

# --- what a generated file is made of --------------------------------------------------

HOSTILE = [
    "", " ", "\x00", "a\x00b", "\n", "\r\n", "\x1b[31mred\x1b[0m", "\u202egnp.exe", "é", "ß",
    "İ", "😀", "'", '"', "\\", "%", "_", "%_\\", "'; DROP TABLE customers; --", "../../etc/passwd",
    "/proc/self/environ", "/dev/zero", "C:\\windows", "~/x", "a" * 5000, "{}", "()", "=>",
    "sales.amount", "customer.group", "VIP", "general", "anna@example.com", "+46 70 123 45 67",
    "30d", "99999999999999999999d", "2026-01-01", "9999-12-31", "0001-01-01", "NaN", "1e999",
]
NUMBERS = [
    0, 1, -1, 7, 2**31, 2**63, -(2**63), 10**12, 10**12 + 1, -(10**12), 10**9, 10**9 + 1,
    9.3e14, 1e308, -1e-5, 0.0001, 0.00001, 999999999999.9999, math.inf, -math.inf, math.nan,
    10**30, 10**400,
]
KEYS = sorted({*TOP_KEYS, *COMBINE_KEYS, *OPTION_KEYS, *BLOCK_KEYS, *RULE_KEYS, "attribute",
               "operator", "value", "code", "adopt", "from", "to", "atribute", "Value"})

scalars = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.sampled_from(NUMBERS),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)


@st.composite
def leaves(draw: Any) -> dict[str, Any]:
    leaf: dict[str, Any] = {
        "attribute": draw(st.sampled_from(sorted(ATTRIBUTES)) | st.sampled_from(HOSTILE)
                          | st.just("customer.attribute.loyalty_tier")),
        "operator": draw(st.sampled_from(OPERATORS) | st.sampled_from(HOSTILE)),
    }
    if draw(st.integers(0, 5)):
        leaf["value"] = draw(values | st.lists(st.sampled_from(NUMBERS + HOSTILE), max_size=3))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=2)):
        leaf[key] = draw(values)
    return leaf


# values a valid condition may hold, hugging the limits
TEXTS = [h for h in HOSTILE if len(h) < 100 and not h.startswith("99999")] + ["a" * 300]
LIMIT_NUMBERS = [0, 1, -1, 10**12, -(10**12), 999999999999.9999, -0.0001, 0.5, 2**39]
DAYS = [0, 1, 30, 365, 10**6, 10**9]
WHEN = ["30d", "0d", "100000d", "1000-01-01", "9998-12-31", "2026-03-15",
        "2026-03-15T12:00:00Z", "1999-12-31T23:59:59+14:00"]


def _pick(draw: Any, op: str, pool: list[Any], order: Any = None) -> Any:
    if op == "<=>":
        return None
    if op in ("()", "!()"):
        return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    if op == "between":
        pair = [draw(st.sampled_from(pool)), draw(st.sampled_from(pool))]
        return sorted(pair, key=order) if order else pair
    return draw(st.sampled_from(pool))


@st.composite
def valid_leaves(draw: Any) -> dict[str, Any]:
    """A condition `check` accepts (mostly): the right kind of value, at the limits."""
    from bridge.segments.attributes import KIND_OPERATORS

    attr = draw(st.sampled_from(sorted(a for a in ATTRIBUTES if a != "segment")))
    spec = ATTRIBUTES[attr]
    op = draw(st.sampled_from(KIND_OPERATORS[spec.kind]))
    leaf: dict[str, Any] = {"attribute": attr, "operator": op}
    kind = spec.kind
    if kind == "string":
        value = _pick(draw, op, TEXTS, order=str.casefold)
    elif kind == "number":
        value = _pick(draw, op, LIMIT_NUMBERS, order=float)
    elif kind in ("count", "days"):
        value = _pick(draw, op, DAYS, order=int)
    elif kind in ("date", "datetime"):
        value = _pick(draw, op, WHEN)
    elif kind == "gender":
        value = _pick(draw, op, ["male", "female", "not_specified"])
    else:  # bool, product
        value = None if op == "<=>" else draw(st.booleans())
    if value is not None:
        leaf["value"] = value
    if "aggregate" in spec.options and draw(st.booleans()):
        leaf["aggregate"] = "average"
    if "period" in spec.options and draw(st.booleans()):
        leaf["period"] = draw(st.sampled_from(["90d", "100000d", {"from": "1000-01-01"},
                                               {"to": "9998-12-31"}]))
    if "status" in spec.options and draw(st.booleans()):
        leaf["status"] = draw(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3))
    if kind == "product":
        if draw(st.booleans()):
            leaf["sku"] = draw(st.lists(st.sampled_from([t for t in TEXTS if t]), min_size=1,
                                        max_size=3))
        if draw(st.booleans()):
            leaf["name_contains"] = draw(st.sampled_from([t for t in TEXTS if t]))
        if draw(st.booleans()):
            leaf["price"] = {"operator": ">=", "value": draw(st.sampled_from(LIMIT_NUMBERS))}
    return leaf


def combines(depth: int, valid: bool = False) -> Any:
    leaf = valid_leaves() if valid else leaves()
    child = leaf if depth <= 0 else st.one_of(leaf, leaf, combines(depth - 1, valid))
    return st.fixed_dictionaries(
        {"rules": st.lists(child, min_size=1 if valid else 0, max_size=3)},
        optional={
            "match": st.sampled_from(["all", "any"] if valid else ["all", "any", "ALL", "some"]),
            "value": st.booleans() if valid else st.booleans() | values,
        },
    )


def chain(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"attribute": "sales.orders_count", "operator": ">=", "value": 1}
    for _ in range(levels):
        node = {"match": "any", "rules": [node]}
    return node


@st.composite
def valid_conditions(draw: Any) -> dict[str, Any]:
    root = draw(combines(draw(st.integers(0, 3)), valid=True))
    if draw(st.integers(0, 4)) == 0:  # right at the depth limit, or one past it
        root = {"rules": [chain(draw(st.integers(14, 15))), *root["rules"]]}
    return root


@st.composite
def segment_tables(draw: Any, valid: bool = False) -> dict[str, Any]:
    conditions = (
        valid_conditions()
        if valid
        else combines(draw(st.integers(0, 3))) | st.integers(15, 40).map(chain) | values
    )
    code = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
    seg: dict[str, Any] = {
        "code": draw(code if valid else code | scalars),
        "conditions": draw(conditions),
    }
    if valid:
        seg["priority"] = draw(st.integers(0, 10**6))
        for key in ("name", "description"):
            if draw(st.booleans()):
                seg[key] = draw(st.sampled_from(TEXTS) | st.text(max_size=20))
        if draw(st.integers(0, 3)) == 0:
            seg["website"] = draw(st.sampled_from(["base", "nordic", "a" * 100]))
        if draw(st.integers(0, 2)) == 0:
            seg["group"] = {"code": draw(st.sampled_from(["VIP", "Gold", "Platinum"]))}
        return seg
    for key in draw(st.lists(st.sampled_from(TOP_KEYS + ("colour", "atribute")),
                             max_size=0 if valid else 4)):
        if key not in ("code", "conditions"):
            seg[key] = draw(values)
    if draw(st.integers(0, 3)) == 0:
        seg["group"] = {"code": draw(st.sampled_from(["VIP", "Gold", "general"]) | scalars)}
        if draw(st.booleans()):
            seg["cms_blocks"] = [{"identifier": draw(st.sampled_from(["hero", "x--group-1"])
                                                     | scalars),
                                  "content_file": draw(st.sampled_from(
                                      ["hero.html", "link.html", "../secret.html", "/dev/zero",
                                       "/proc/self/environ", "blocks", "fifo"]) | scalars)}]
        if draw(st.booleans()):
            seg["cart_rules"] = [{"name": draw(scalars), "simple_action": "by_percent",
                                  "discount_amount": draw(st.sampled_from(NUMBERS))}]
    return seg


# --- TOML text --------------------------------------------------------------------------


def toml_value(v: Any) -> str:
    """``v`` as an inline TOML value (tables and arrays on one line)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**4000 else "1" + "0" * 4400  # tomllib's own limit
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_str(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_str(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_file(seg: dict[str, Any]) -> str:
    return "".join(f"{toml_str(k)} = {toml_value(v)}\n" for k, v in seg.items())


@st.composite
def files(draw: Any) -> bytes:
    """One segment file: mostly well-formed TOML, sometimes broken or not text at all."""
    text = toml_file(draw(segment_tables()))
    how = draw(st.integers(0, 9))
    if how == 0:  # cut short
        text = text[: draw(st.integers(0, len(text)))]
    elif how == 1:  # a stray character
        at = draw(st.integers(0, len(text)))
        stray = draw(st.sampled_from(["[", "]", "=", '"', "\\", "\x00", "{"]))
        text = text[:at] + stray + text[at:]
    elif how == 2:  # nesting tomllib recurses on
        text += "x = " + "[" * 3000 + "]" * 3000 + "\n"
    elif how == 3:  # not UTF-8
        return text.encode("utf-8") + b"\xff\xfe"
    return text.encode("utf-8")


# --- the checks -------------------------------------------------------------------------

SEG = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")'
KEY_PATH = rf"{SEG}(?:\[\d+\])*(?:\.{SEG}(?:\[\d+\])*)*"
WHOLE_FILE = ("not valid TOML", "is larger than", "cannot read")


def assert_lines_name_file_and_key(problems: list[str], names: set[str]) -> None:
    for line in problems:
        assert "\n" not in line and "Traceback" not in line, line
        name, sep, rest = line.partition(": ")
        assert sep and (name in names or name == "mappings"), line
        if rest.startswith(WHOLE_FILE):
            continue
        assert re.match(rf"{KEY_PATH}: \S", rest), line


def mappings_dir(root: Path) -> Path:
    """A mappings folder with the block files the generated content_file keys name."""
    d = root / "mappings"
    if d.exists():
        shutil.rmtree(d)
    (d / "blocks").mkdir(parents=True)
    (d / "hero.html").write_text("<p>hi</p>", encoding="utf-8")
    (root / "secret.html").write_text("TOKEN", encoding="utf-8")
    (d / "link.html").symlink_to(root / "secret.html")
    os.mkfifo(d / "fifo")
    return d


@settings(max_examples=EXAMPLES, **SETTINGS)
@given(batch=st.lists(files(), min_size=1, max_size=3))
def test_check_never_raises_and_names_file_and_key(
    tmp_path_factory: pytest.TempPathFactory, batch: list[bytes]
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    d = mappings_dir(root)
    names = set()
    for i, data in enumerate(batch):
        (d / f"f{i}.toml").write_bytes(data)
        names.add(f"mappings/f{i}.toml")
    cfg = Config(path=root / "segbridge.toml", sync=CFG.sync)
    problems, warnings = check_mappings(cfg, d)
    assert_lines_name_file_and_key(problems, names)
    event("refused" if problems else "passed check")
    if not problems:
        load_segments(d, cfg)  # what check passes, every command loads


_store_ready: dict[str, list[int]] = {}


@pytest.mark.db
@settings(max_examples=EVAL_EXAMPLES, **SETTINGS)
@given(tables=st.lists(segment_tables(valid=True), min_size=1, max_size=3))
def test_what_check_passes_evaluates_like_the_reference(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, tables: list[dict[str, Any]]
) -> None:
    key = str(engine.url)
    if key not in _store_ready:
        shop = random_shop(random.Random(17), AS_OF, customers=10, push=True)
        with engine.begin() as conn:
            write_shop(conn, shop)
        _store_ready[key] = [c["id"] for c in shop["customers"]]
    root = tmp_path_factory.mktemp("fuzzeval")
    d = mappings_dir(root)
    for i, seg in enumerate(tables):
        (d / f"f{i}.toml").write_text(toml_file(seg), encoding="utf-8")
    try:
        segments = load_segments(d, CFG)
    except ConfigError as exc:
        assert_lines_name_file_and_key(exc.problems, {f"{d}/f{i}.toml" for i in range(3)}
                                       | {f"mappings/f{i}.toml" for i in range(3)})
        event("refused")
        return
    event("evaluated")
    by_code = {s.code: s for s in segments}
    active = [s for s in segments if s.active]
    evaluate(engine, segments, AS_OF, config=CFG)  # what `segbridge evaluate` records
    with engine.connect() as conn:
        found = compute_memberships(conn, segments, AS_OF, CFG)
        for cid in _store_ready[key]:
            data = load_customer(conn, cid, CFG)
            assert data is not None
            ref = Reference(data, by_code, AS_OF)
            for seg in active:
                assert (cid in found[seg.code]) == ref.segment(seg).result, (seg.code, cid)
