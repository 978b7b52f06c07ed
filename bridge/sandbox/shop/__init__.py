"""The sandbox shop: stores, groups, customers, orders, carts, CMS blocks, cart rules.

It renders Magento 2.4 JSON shapes (admin-schema-2.4.6.json) and applies Magento's save
semantics (docs/magento.md S8, S10, A, E, F, G). All access goes through ``lock``.
The mutation helpers are for tests and benches: they bump ``updated_at`` the way Magento
does — except address-only changes, which leave the customer's ``updated_at`` alone
(docs/magento.md B5).

The modules, from the bottom up:

- ``records.py``: stores, customer groups, CMS blocks, rule and coupon records, the key
  sets the saves accept, small shared helpers;
- ``render.py``, ``orders.py``: the JSON of every entity (orders, whole and lean, apart);
- ``customers.py``: customer saves; ``saves.py``: groups, CMS blocks, rules, coupons;
- ``helpers.py``: the mutation helpers; ``specs.py``: the search specs;
- ``state.py``: ``Shop``, every entity's table and its indexes, with the methods above.

The admin and fault controls (``/__sandbox/...``, faults, request stats) are not here: they
are the server's (``bridge/sandbox/control.py``).
"""

from bridge.sandbox.shop.orders import (
    LEAN_ADDRESS_KEYS,
    LEAN_ITEM_KEYS,
    LEAN_ORDER_KEYS,
    lean_order_exact,
    lean_order_spec,
)
from bridge.sandbox.shop.records import (
    ADDRESS_KEYS,
    BLOCK_KEYS,
    COUPON_KEYS,
    COUPON_TYPES,
    CUSTOMER_KEYS,
    DEFAULT_GROUP_ID,
    GROUP_KEYS,
    RULE_KEYS,
    SIMPLE_ACTIONS,
    TAX_CLASSES,
    Block,
    Group,
    Rec,
    StoreGroup,
    StoreView,
    Website,
)
from bridge.sandbox.shop.state import Shop

__all__ = [
    "ADDRESS_KEYS", "BLOCK_KEYS", "COUPON_KEYS", "COUPON_TYPES", "CUSTOMER_KEYS",
    "DEFAULT_GROUP_ID", "GROUP_KEYS", "LEAN_ADDRESS_KEYS", "LEAN_ITEM_KEYS", "LEAN_ORDER_KEYS",
    "RULE_KEYS", "SIMPLE_ACTIONS", "TAX_CLASSES", "Block", "Group", "Rec", "Shop", "StoreGroup",
    "StoreView", "Website", "lean_order_exact", "lean_order_spec",
]
