"""Load `mappings/*.toml` into the typed model, reporting every problem at once.

Each problem is one line ``FILE: KEY.PATH: what is wrong`` so a merchant
fixes a whole directory in one pass; nothing is evaluated or pushed while any remain.

The package, each module importing only those above it:

- ``schema``: the keys each table takes, operators, patterns and limits (data only);
- ``messages``: how a problem reads (quoting, "did you mean", unknown keys, file names);
- ``text``: checks on shown text (length, personal data, invisible characters, NUL);
- ``content``: reading a block's ``content_file`` safely;
- ``values``: one value (numbers, dates, periods, statuses, product filters, fields);
- ``conditions``: the ``[conditions]`` tree; ``tables``: ``[[cms_blocks]]``,
  ``[[cart_rules]]``; ``segment``: one file (top-level keys, ``[group]``);
- ``together``: checks across files; ``files``: reading the folder, the entry points.

A new top-level key: its name in ``schema.TOP_KEYS`` and any limit beside the others
there; parse and check it in ``segment.parse_segment`` (a helper in ``values`` when it
takes more than a few lines); ``Segment`` carries it. A new rule table like
``[[cart_rules]]``: its keys as a ``schema`` tuple (and ``TOP_KEYS``), a ``_x_rules(raw,
out)`` in ``tables`` beside ``_cart_rules``, called from ``parse_segment`` next to its
"needs a [group]" line; checks across files go in ``together``. Re-export here any name
another module imports.
"""

from __future__ import annotations

from bridge.segments.loader.content import OUTSIDE
from bridge.segments.loader.files import (
    check_mappings,
    load_segments,
    load_segments_with_warnings,
    segments_from_dicts,
)
from bridge.segments.loader.messages import _display as _display  # bridge.checks uses it
from bridge.segments.loader.messages import did_you_mean, escaped, look_alike_note
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
from bridge.segments.loader.segment import parse_segment
from bridge.segments.loader.text import EMAIL_RE, ISO_DATE_RE, PHONE_RE

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
