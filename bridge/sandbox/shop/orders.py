"""Orders as Magento renders them: whole, or lean (the keys the sync asks for), and
which ``fields=`` specs the lean rendering can serve."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.generator import STATUS_STATE, derived_lines, variant_of
from bridge.sandbox.model import Address, Order, fmt_time
from bridge.sandbox.shop.records import _dumps, _kept_text, _money

# Item keys that ``Shop.order_json`` can render without the rest of the item: what the
# sync asks for (bridge.sync.transform.ORDER_FIELDS), so that its answer is the lean
# rendering as it is, without trimming (see ``lean_order_exact``).
LEAN_ITEM_KEYS = frozenset({
    "base_price", "item_id", "name", "parent_item_id", "price", "product_id",
    "product_type", "qty_ordered", "row_total", "sku",
})

# Address keys of a lean order's billing and shipping address (the same: what the sync
# asks for).
LEAN_ADDRESS_KEYS = frozenset({
    "city", "company", "country_id", "firstname", "lastname", "postcode", "region",
    "region_code", "region_id", "street", "telephone", "vat_id",
})


# Top-level order keys that ``Shop.order_json(..., lean_top=True)`` renders (with
# ``extension_attributes`` holding only the shipping assignments' addresses).
LEAN_ORDER_KEYS = frozenset({
    "base_currency_code", "base_grand_total", "billing_address", "created_at",
    "customer_email", "customer_group_id", "customer_id", "customer_is_guest", "entity_id",
    "extension_attributes", "grand_total", "increment_id", "items", "state", "status",
    "store_id", "subtotal", "total_qty_ordered", "updated_at",
})


def _address_spec(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.keys() <= LEAN_ADDRESS_KEYS


def lean_order_spec(order_spec: Any) -> bool:
    """Does a ``fields=`` spec of one order keep only what the lean rendering holds?"""
    if not isinstance(order_spec, dict) or not order_spec.keys() <= LEAN_ORDER_KEYS:
        return False
    if "billing_address" in order_spec and not _address_spec(order_spec["billing_address"]):
        return False
    ext = order_spec.get("extension_attributes", {})
    if not isinstance(ext, dict) or not ext.keys() <= {"shipping_assignments"}:
        return False
    sa = ext.get("shipping_assignments", {})
    if not isinstance(sa, dict) or not sa.keys() <= {"shipping"}:
        return False
    shipping = sa.get("shipping", {})
    if not isinstance(shipping, dict) or not shipping.keys() <= {"address"}:
        return False
    return "address" not in shipping or _address_spec(shipping["address"])


def _leaves(spec: Any, keys: frozenset[str]) -> bool:
    return (isinstance(spec, dict) and spec.keys() >= keys
            and all(spec[k] is None for k in keys))


def lean_order_exact(order_spec: Any) -> bool:
    """Is a ``fields=`` spec of one order exactly the lean rendering: one it can serve
    (``lean_order_spec``, with items of ``LEAN_ITEM_KEYS`` only) that keeps all of it?
    Trimming a lean order to it then changes nothing."""
    if not lean_order_spec(order_spec) or not _leaves(order_spec, LEAN_ORDER_KEYS - {
            "items", "billing_address", "extension_attributes"}):
        return False
    items = order_spec.get("items")
    if not isinstance(items, dict) or not items.keys() <= LEAN_ITEM_KEYS:
        return False  # items with more: they are rendered whole, and need trimming
    try:
        address = order_spec["extension_attributes"]["shipping_assignments"]["shipping"][
            "address"]
    except (KeyError, TypeError):
        return False
    return (_leaves(order_spec["items"], LEAN_ITEM_KEYS)
            and _leaves(order_spec["billing_address"], LEAN_ADDRESS_KEYS)
            and _leaves(address, LEAN_ADDRESS_KEYS))



class OrderRendering:
    """Order rendering, mixed into ``Shop`` (state.py), which holds the tables."""

    def order_rows(self, o: Order) -> list[tuple[int, int | None, str, str, float, float, str,
                                                  int]]:
        """(item_id, parent_item_id, sku, name, price, qty, product_type, product_id)."""
        rows = []
        if o.lines is not None:
            for k, (sku, name, price, qty, ptype, pid) in enumerate(o.lines):
                rows.append((o.id * 10 + k, None, sku, name, price, qty, ptype, pid))
            return rows
        k = 0
        for p, qty in derived_lines(o.seed, self.catalog):
            item_id = o.id * 10 + k
            k += 1
            if p.children:
                kid = variant_of(p, o.seed + k)
                rows.append((item_id, None, kid[1], p.name, p.price, float(qty), "configurable",
                             p.id))
                rows.append((o.id * 10 + k, item_id, kid[1], kid[2], 0.0, float(qty), "simple",
                             kid[0]))
                k += 1
            else:
                rows.append((item_id, None, p.sku, p.name, p.price, float(qty), p.type, p.id))
        return rows

    def order_money(self, o: Order, rows: list[Any] | None = None) -> dict[str, float]:
        rows = rows if rows is not None else self.order_rows(o)
        sv = self.store(o.store_id)
        subtotal = sum(r[4] * r[5] for r in rows if r[1] is None)
        qty = sum(r[5] for r in rows if r[1] is None)
        virtual = all(r[6] == "virtual" for r in rows if r[1] is None)
        shipping = 0.0 if virtual or subtotal >= 100 else 5.0
        tax = _money(subtotal * sv.tax_rate)
        base_total = _money(subtotal + shipping + tax)
        return {"base_subtotal": _money(subtotal), "base_shipping": shipping, "base_tax": tax,
                "base_grand_total": base_total, "qty": qty, "rate": sv.rate,
                "virtual": virtual}

    def set_order_totals(self, o: Order) -> None:
        """Store base_grand_total and total_qty_ordered (filterable without rendering)."""
        if o.lines is not None:
            m = self.order_money(o)
            o.base_grand_total = m["base_grand_total"]
            o.total_qty = m["qty"]
            return
        # the same arithmetic as order_money over order_rows, minus building the rows
        lines = derived_lines(o.seed, self.catalog)
        subtotal = sum(p.price * float(q) for p, q in lines)
        virtual = all(p.type == "virtual" for p, _q in lines)
        shipping = 0.0 if virtual or subtotal >= 100 else 5.0
        tax = _money(subtotal * self.store(o.store_id).tax_rate)
        o.base_grand_total = _money(subtotal + shipping + tax)
        o.total_qty = sum(float(q) for _p, q in lines)

    def increment_id(self, o: Order) -> str:
        return f"{o.store_id if o.store_id > 1 else 0}{o.seq:08d}"

    def order_address_json(self, o: Order, a: Address, kind: str, entity_id: int
                           ) -> dict[str, Any]:
        d = self.lean_address_json(a)
        d["address_type"] = kind
        if a.id and o.customer_id is not None:
            d["customer_address_id"] = a.id
        if o.customer_id is not None:
            d["customer_id"] = o.customer_id
        d["email"] = o.email
        d["entity_id"] = entity_id
        d["parent_id"] = o.id
        return dict(sorted(d.items()))  # Magento's order: the keys alphabetically

    def lean_address_json(self, a: Address) -> dict[str, Any]:
        """An order address with the keys of ``LEAN_ADDRESS_KEYS`` only, alphabetically
        (as Magento's whole address has them)."""
        d: dict[str, Any] = {"city": a.city}
        if a.company:
            d["company"] = a.company
        d["country_id"] = a.country_id
        d["firstname"] = a.firstname
        d["lastname"] = a.lastname
        d["postcode"] = a.postcode
        if a.region is not None:
            d["region"] = a.region[1]
            d["region_code"] = a.region[0]
            if a.region[2]:
                d["region_id"] = a.region[2]
        d["street"] = list(a.street)
        d["telephone"] = a.telephone
        if a.vat_id:
            d["vat_id"] = a.vat_id
        return d

    def order_json(self, o: Order, item_keys: frozenset[str] | None = None,
                   lean_top: bool = False) -> dict[str, Any]:
        """The order as GET /V1/orders/{id} answers it. ``item_keys``: the only item keys
        the caller keeps (its ``fields=``); items may then carry just those (and others).
        ``lean_top``: the caller keeps only keys of ``LEAN_ORDER_KEYS`` at the top (see
        ``lean_order_spec``); the order may then carry just those (and others)."""
        return self._order_dict(o, item_keys, lean_top)

    def lean_order_text(self, o: Order) -> str:
        """``dumps(order_json(o, LEAN_ITEM_KEYS, lean_top=True))``, kept until the order
        changes: a page of the sync's orders is then a join of texts, not a rendering of
        every order on every request. The key is every slot of the order (addresses are
        replaced, never changed in place; the catalog and the store views are fixed)."""
        return _kept_text(self._lean_texts, o,
                          lambda: self._order_dict(o, LEAN_ITEM_KEYS, lean_top=True))

    def warm_texts(self) -> None:
        """Render every customer's text and every order's lean text now (a bench does it
        before it measures)."""
        with self.lock:
            for c in self.customers.values():
                self.customer_text(c)
            for o in self.orders.values():
                self.lean_order_text(o)

    def order_json_text(self, o: Order) -> str:
        """``json.dumps(order_json(o))`` in about half the time: the items list, which
        Magento sends twice (``items`` and the shipping assignment's), is encoded once."""
        d = self._order_dict(o)
        items = _dumps(d.pop("items"))
        ext = d.pop("extension_attributes")
        sa = ext["shipping_assignments"][0]
        return (_dumps(d)[:-1] + ',"items":' + items
                + ',"extension_attributes":{"shipping_assignments":[{"shipping":'
                + _dumps(sa["shipping"]) + ',"items":' + items
                + '}],"payment_additional_info":' + _dumps(ext["payment_additional_info"])
                + "}}")

    def _order_dict(self, o: Order, item_keys: frozenset[str] | None = None,
                    lean_top: bool = False) -> dict[str, Any]:
        lean = item_keys is not None and item_keys <= LEAN_ITEM_KEYS
        lean_top = lean_top and lean
        rows = self.order_rows(o)
        m = self.order_money(o, rows)
        sv = self.store(o.store_id)
        rate = m["rate"]
        created, updated = fmt_time(o.created_at), fmt_time(o.updated_at)
        grand = _money(m["base_grand_total"] * rate)
        items = []
        by_id: dict[int, dict[str, Any]] = {}
        for item_id, parent, sku, name, price, qty, ptype, pid in rows:
            row_total = _money(price * qty)
            if lean:
                # the same values, in the same key order, of the keys a trimmed answer
                # can keep (most of an item's 40 keys are money that costs a rounding)
                it = {"base_price": price, "item_id": item_id, "name": name,
                      "price": _money(price * rate), "product_id": pid,
                      "product_type": ptype, "qty_ordered": qty,
                      "row_total": _money(row_total * rate), "sku": sku}
                if parent is not None:
                    it["parent_item_id"] = parent
                items.append(it)
                continue
            tax_pct = sv.tax_rate * 100 if parent is None else 0.0
            it = {
                "amount_refunded": 0, "base_amount_refunded": 0, "base_discount_amount": 0,
                "base_original_price": price, "base_price": price,
                "base_price_incl_tax": _money(price * (1 + sv.tax_rate)),
                "base_row_total": row_total,
                "base_row_total_incl_tax": _money(row_total * (1 + sv.tax_rate)),
                "base_tax_amount": _money(row_total * sv.tax_rate), "created_at": created,
                "discount_amount": 0, "discount_percent": 0, "free_shipping": 0,
                "is_qty_decimal": 0, "is_virtual": int(ptype == "virtual"), "item_id": item_id,
                "name": name, "no_discount": 0, "order_id": o.id,
                "original_price": _money(price * rate), "price": _money(price * rate),
                "price_incl_tax": _money(price * rate * (1 + sv.tax_rate)),
                "product_id": pid, "product_type": ptype,
                "qty_canceled": qty if o.status == "canceled" else 0,
                "qty_invoiced": qty if o.status in ("complete", "closed", "processing") else 0,
                "qty_ordered": qty,
                "qty_refunded": qty if o.status == "closed" else 0,
                "qty_shipped": qty if o.status in ("complete", "closed") else 0,
                "row_total": _money(row_total * rate),
                "row_total_incl_tax": _money(row_total * rate * (1 + sv.tax_rate)),
                "sku": sku, "store_id": o.store_id,
                "tax_amount": _money(row_total * rate * sv.tax_rate), "tax_percent": tax_pct,
                "updated_at": updated,
            }
            if parent is not None:
                it["parent_item_id"] = parent
                it["parent_item"] = dict(by_id[parent])
            by_id[item_id] = it
            items.append(it)
        status = o.status
        if lean_top:
            # The keys of LEAN_ORDER_KEYS only, with the values and in the order of the
            # whole order below (the shipping assignment holds just its address).
            lt: dict[str, Any] = {
                "base_currency_code": sv.base_currency,
                "base_grand_total": m["base_grand_total"],
                "created_at": created,
                "customer_email": o.email,
                "customer_group_id": o.group_id,
                "customer_is_guest": 1 if o.customer_id is None and o.group_id == 0 else 0,
                "entity_id": o.id,
                "grand_total": grand,
                "increment_id": self.increment_id(o),
                "state": STATUS_STATE.get(status, status),
                "status": status,
                "store_id": o.store_id,
                "subtotal": _money(m["base_subtotal"] * rate),
                "total_qty_ordered": m["qty"],
                "updated_at": updated,
                "items": items,
                "billing_address": self.lean_address_json(o.billing),
                "extension_attributes": {
                    "shipping_assignments": [{"shipping": {
                        "address": self.lean_address_json(o.shipping or o.billing)}}],
                },
            }
            if o.customer_id is not None:
                lt["customer_id"] = o.customer_id
            return lt
        bill = self.order_address_json(o, o.billing, "billing", o.id * 2 - 1)
        ship = self.order_address_json(o, o.shipping or o.billing, "shipping", o.id * 2)
        paid = status in ("processing", "complete", "closed")
        shipping_amt = _money(m["base_shipping"] * rate)
        d: dict[str, Any] = {
            "base_currency_code": sv.base_currency,
            "base_discount_amount": 0,
            "base_grand_total": m["base_grand_total"],
            "base_shipping_amount": m["base_shipping"],
            "base_subtotal": m["base_subtotal"],
            "base_tax_amount": m["base_tax"],
            "base_to_global_rate": 1,
            "base_to_order_rate": rate,
            "base_total_due": 0 if paid or status == "canceled" else m["base_grand_total"],
            "base_total_paid": m["base_grand_total"] if paid else 0,
            "billing_address_id": o.id * 2 - 1,
            "created_at": created,
            "customer_email": o.email,
            "customer_firstname": o.firstname,
            "customer_group_id": o.group_id,
            "customer_is_guest": 1 if o.customer_id is None and o.group_id == 0 else 0,
            "customer_lastname": o.lastname,
            "customer_note_notify": 1,
            "discount_amount": 0,
            "entity_id": o.id,
            "global_currency_code": sv.base_currency,
            "grand_total": grand,
            "increment_id": self.increment_id(o),
            "is_virtual": int(m["virtual"]),
            "order_currency_code": sv.currency,
            "protect_code": f"{o.seed & 0xFFFFFF:06x}",
            "quote_id": o.id + 1000000,
            "remote_ip": f"10.{o.id % 250}.{(o.id // 250) % 250}.{o.id % 7 + 1}",
            "shipping_amount": shipping_amt,
            "shipping_description": "Flat Rate - Fixed",
            "state": STATUS_STATE.get(status, status),
            "status": status,
            "store_currency_code": sv.currency,
            "store_id": o.store_id,
            "store_name": f"{self.websites[sv.website_id].name}\n"
                          f"{self.store_groups[sv.store_group_id].name}\n{sv.name}",
            "store_to_base_rate": 0,
            "store_to_order_rate": 0,
            "subtotal": _money(m["base_subtotal"] * rate),
            "tax_amount": _money(m["base_tax"] * rate),
            "total_due": 0 if paid or status == "canceled" else grand,
            "total_item_count": len(rows),
            "total_paid": grand if paid else 0,
            "total_qty_ordered": m["qty"],
            "updated_at": updated,
            "items": items,
            "billing_address": bill,
            "payment": {"account_status": None, "additional_information": ["Check / Money order"],
                        "amount_ordered": grand, "base_amount_ordered": m["base_grand_total"],
                        "cc_last4": None, "entity_id": o.id, "method": "checkmo",
                        "parent_id": o.id},
            "status_histories": [],
            "extension_attributes": {
                "shipping_assignments": [{
                    "shipping": {"address": ship, "method": "flatrate_flatrate",
                                 "total": {"base_shipping_amount": m["base_shipping"],
                                           "shipping_amount": shipping_amt}},
                    "items": items,
                }],
                "payment_additional_info": [{"key": "method_title",
                                             "value": "Check / Money order"}],
            },
        }
        if status == "canceled":
            d["total_canceled"] = grand
            d["base_total_canceled"] = m["base_grand_total"]
        if status == "closed":
            d["total_refunded"] = grand
            d["base_total_refunded"] = m["base_grand_total"]
        if paid:
            d["total_invoiced"] = grand
            d["base_total_invoiced"] = m["base_grand_total"]
        if o.customer_id is not None:
            d["customer_id"] = o.customer_id
        return d

