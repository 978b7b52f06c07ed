"""What a segment file may say: the keys of each table, the operators and actions, the
patterns codes and slots follow, and the limits every value is held to.

Pure data, imported by the other modules of the loader; nothing here reads or reports.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from bridge.segments.attributes import ATTRIBUTES
from bridge.segments.model import OPERATORS

# Patterns are used with fullmatch: "^...$" with match would let a trailing "\n" through.
CODE_RE = re.compile(r"[a-z0-9_-]+")
AGE_RE = re.compile(r"\s*(\d+)\s*d\s*")
# A CMS slot: the characters magento-module/Model/IdentifierChooser.php accepts
# (SLOT_PATTERN '/^[A-Za-z0-9_-]+$/D'). The widget also refuses a slot containing
# GROUP_MARKER (case-insensitively), because segbridge writes "<slot>--group-<id>".
SLOT_RE = re.compile(r"[A-Za-z0-9_-]+")
GROUP_MARKER = "--group-"
MAX_SLOT_LENGTH = 200  # well under the widget's 237 (255 minus "--group-" and a 10-digit id)
MAX_CONTENT_BYTES = 1024 * 1024  # a block's content_file
TOP_KEYS = (
    "code",
    "name",
    "description",
    "active",
    "website",
    "priority",
    "conditions",
    "group",
    "cms_blocks",
    "cart_rules",
    "catalog_rules",
    "holdout",
)
COMBINE_KEYS = ("match", "value", "rules")
# every option any attribute takes (a condition's keys beyond attribute/operator/value)
OPTION_KEYS = tuple(sorted({o for spec in ATTRIBUTES.values() for o in spec.options}))
LEAF_KEYS = ("attribute", "operator", "value")
GROUP_KEYS = ("code", "adopt")
BLOCK_KEYS = ("identifier", "title", "content_file", "active", "stores")
RULE_KEYS = (
    "name",
    "simple_action",
    "discount_amount",
    "coupon_code",
    "from_date",
    "to_date",
    "stop_rules_processing",
    "discount_step",
    "discount_qty",
    "apply_to_shipping",
    "sort_order",
)
SIMPLE_ACTIONS = ("by_percent", "by_fixed", "cart_fixed", "buy_x_get_y")
CATALOG_RULE_KEYS = (
    "name",
    "simple_action",
    "discount_amount",
    "skus",
    "from_date",
    "to_date",
    "stop_rules_processing",
    "sort_order",
)
CATALOG_ACTIONS = ("by_percent", "by_fixed", "to_percent", "to_fixed")
MAX_SKU = 64  # Magento's catalog_product_entity.sku
PRICE_OPERATORS = ("==", "!=", ">=", ">", "<=", "<", "between")
OPS_TEXT = " ".join(OPERATORS)
# What people write for an operator: reversed tokens, SQL, and Magento's admin labels.
OPERATOR_ALIASES = {
    "=": "==", "=>": ">=", "=<": "<=", "<>": "!=", "=!": "!=", "is": "==", "is not": "!=",
    "equals or greater than": ">=", "greater than": ">", "equals or less than": "<=",
    "less than": "<", "contains": "{}", "does not contain": "!{}", "in": "()",
    "is one of": "()", "not in": "!()", "is not one of": "!()", "is undefined": "<=>",
    "is null": "<=>", "{ }": "{}", "( )": "()", "!( )": "!()", "!{ }": "!{}",
}
PERIOD_HINT = 'use "90d" or { from = "2026-01-01", to = "2026-06-30" }'
# Limits (each refusal names file and key): what every supported database evaluates
# exactly, without overflow and within its expression-depth limits.
MAX_DEPTH = 16  # combine levels, the root [conditions] being the first
MAX_LEAVES = 500  # conditions in one segment
MAX_LIST = 10_000  # values of one () / !() list (and of a sku list)
MAX_AMOUNT = Decimal(10) ** 12  # money and quantities: within ±10^12
MAX_COUNT = 10**9  # counts and days: within 0…10^9
MAX_AGE_DAYS = 100_000  # a relative age ("30d") or period: about 270 years
EARLIEST_DAY = date(1000, 1, 1)  # dates: what every database stores (MariaDB from 1000)
LATEST_DAY = date(9998, 12, 31)  # and whose next day still exists
MAX_SHOWN = 80  # characters of a value quoted in a message
MAX_FILE_BYTES = 10 * 1024 * 1024  # one segment file
MAX_NAME = 255  # names, titles, coupon codes: the store's and Magento's varchar(255)
MAX_WEBSITE_CODE = 32  # Magento's store_website.code
MAX_DESCRIPTION = 10_000  # MariaDB's TEXT holds 65,535 bytes: 4 a character at most
