"""Magento JSON of customers, carts, cart totals, groups, CMS blocks and store records."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.model import Address, Cart, Customer, fmt_time
from bridge.sandbox.shop.records import (
    TAX_CLASSES,
    Block,
    Group,
    StoreGroup,
    StoreView,
    Website,
    _kept_text,
    _money,
)


class Rendering:
    """Rendering of everything but orders, mixed into ``Shop`` (state.py)."""

    def region_json(self, a: Address) -> dict[str, Any]:
        if a.region is None:
            return {"region_code": None, "region": None, "region_id": 0}
        code, name, rid = a.region
        return {"region_code": code, "region": name, "region_id": rid}

    def address_json(self, a: Address, c: Customer) -> dict[str, Any]:
        d: dict[str, Any] = {"id": a.id, "customer_id": c.id, "region": self.region_json(a),
                             "region_id": a.region[2] if a.region else 0,
                             "country_id": a.country_id, "street": list(a.street)}
        if a.company:
            d["company"] = a.company
        d["telephone"] = a.telephone
        d["postcode"] = a.postcode
        d["city"] = a.city
        d["firstname"] = a.firstname
        d["lastname"] = a.lastname
        if a.vat_id:
            d["vat_id"] = a.vat_id
        if c.default_shipping == a.id:
            d["default_shipping"] = True
        if c.default_billing == a.id:
            d["default_billing"] = True
        return d

    def customer_json(self, c: Customer) -> dict[str, Any]:
        d: dict[str, Any] = {"id": c.id, "group_id": c.group_id}
        if c.default_billing is not None:
            d["default_billing"] = str(c.default_billing)
        if c.default_shipping is not None:
            d["default_shipping"] = str(c.default_shipping)
        if c.confirmation:
            d["confirmation"] = c.confirmation
        d["created_at"] = fmt_time(c.created_at)
        d["updated_at"] = fmt_time(c.updated_at)
        d["created_in"] = c.created_in
        if c.dob:
            d["dob"] = c.dob
        d["email"] = c.email
        d["firstname"] = c.firstname
        d["lastname"] = c.lastname
        if c.middlename:
            d["middlename"] = c.middlename
        if c.prefix:
            d["prefix"] = c.prefix
        if c.suffix:
            d["suffix"] = c.suffix
        if c.gender is not None:
            d["gender"] = c.gender
        d["store_id"] = c.store_id
        if c.taxvat:
            d["taxvat"] = c.taxvat
        d["website_id"] = c.website_id
        d["addresses"] = [self.address_json(a, c) for a in c.addresses]
        d["disable_auto_group_change"] = c.disable_auto_group_change
        d["extension_attributes"] = {"is_subscribed": bool(c.is_subscribed)}
        if c.custom:
            d["custom_attributes"] = [{"attribute_code": k, "value": v} for k, v in c.custom]
        return d

    def customer_text(self, c: Customer) -> str:
        """``dumps(customer_json(c))``, kept until the customer changes: every slot is
        the key (its addresses and custom attributes are tuples, replaced and never
        changed in place; an address is replaced by a copy, never changed)."""
        return _kept_text(self._customer_texts, c, lambda: self.customer_json(c))

    def cart_json(self, q: Cart) -> dict[str, Any]:
        sv = self.store(q.store_id)
        items_qty = sum(line[4] for line in q.lines)
        d: dict[str, Any] = {
            "id": q.id,
            "created_at": fmt_time(q.created_at),
            "updated_at": fmt_time(q.updated_at),
            "is_active": bool(q.is_active),
            "is_virtual": False,
        }
        if q.converted_at is not None:
            d["converted_at"] = fmt_time(q.converted_at)
        if q.is_active:
            d["items"] = [{"item_id": iid, "sku": sku, "qty": qty, "name": name,
                           "price": _money(price * sv.rate), "product_type": ptype,
                           "quote_id": str(q.id)}
                          for iid, sku, name, price, qty, ptype in q.lines]
        elif q.id % 2:
            d["items"] = []  # inactive quotes come back without their items (mm#19846)
        d["items_count"] = len(q.lines)
        d["items_qty"] = items_qty
        cust: dict[str, Any] = {}
        if q.customer_id is not None:
            cust["id"] = q.customer_id
            cust["group_id"] = q.group_id
            c = self.customers.get(q.customer_id)
            if c is not None:
                cust["default_billing"] = str(c.default_billing) if c.default_billing else None
                cust["created_at"] = fmt_time(c.created_at)
                cust["updated_at"] = fmt_time(c.updated_at)
                cust["created_in"] = c.created_in
                cust["store_id"] = c.store_id
                cust["website_id"] = c.website_id
            cust = {k: v for k, v in cust.items() if v is not None}
        else:
            cust["group_id"] = 0
        cust["email"] = q.email
        cust["firstname"] = q.firstname
        cust["lastname"] = q.lastname
        if q.customer_id is not None and (c := self.customers.get(q.customer_id)) is not None:
            cust["addresses"] = []
            cust["disable_auto_group_change"] = 0
            cust["extension_attributes"] = {"is_subscribed": bool(c.is_subscribed)}
        d["customer"] = cust
        d["billing_address"] = {"id": q.id * 2, "region": None, "region_id": None,
                                "region_code": None, "country_id": None, "street": [""],
                                "telephone": None, "postcode": None, "city": None,
                                "firstname": None, "lastname": None,
                                "email": q.email, "same_as_billing": 0,
                                "save_in_address_book": 0}
        # an empty quote address: Magento sends its non-nullable getters as null
        d["orig_order_id"] = 0
        d["currency"] = {"global_currency_code": sv.base_currency,
                         "base_currency_code": sv.base_currency,
                         "store_currency_code": sv.currency,
                         "quote_currency_code": sv.currency,
                         "store_to_base_rate": 0, "store_to_quote_rate": 0,
                         "base_to_global_rate": 1, "base_to_quote_rate": sv.rate}
        d["customer_is_guest"] = q.customer_id is None
        d["customer_note_notify"] = True
        d["customer_tax_class_id"] = 3
        d["store_id"] = q.store_id
        if q.reserved_order_id:
            d["reserved_order_id"] = q.reserved_order_id
        if q.is_active:
            d["extension_attributes"] = {"shipping_assignments": []}
        return d

    def totals_json(self, q: Cart) -> dict[str, Any]:
        sv = self.store(q.store_id)
        items = []
        subtotal = 0.0
        for iid, _sku, name, price, qty, _ptype in q.lines:
            p = _money(price * sv.rate)
            row = _money(p * qty)
            subtotal += row
            tax = _money(row * sv.tax_rate)
            items.append({"item_id": iid, "price": p, "base_price": price, "qty": qty,
                          "row_total": row, "base_row_total": _money(price * qty),
                          "row_total_with_discount": 0, "tax_amount": tax,
                          "base_tax_amount": _money(price * qty * sv.tax_rate),
                          "tax_percent": sv.tax_rate * 100, "discount_amount": 0,
                          "base_discount_amount": 0, "discount_percent": 0,
                          "price_incl_tax": _money(p * (1 + sv.tax_rate)),
                          "base_price_incl_tax": _money(price * (1 + sv.tax_rate)),
                          "row_total_incl_tax": _money(row * (1 + sv.tax_rate)),
                          "base_row_total_incl_tax": _money(price * qty * (1 + sv.tax_rate)),
                          "options": "[]", "weee_tax_applied_amount": None,
                          "weee_tax_applied": None, "name": name})
        subtotal = _money(subtotal)
        tax_total = _money(subtotal * sv.tax_rate)
        grand = _money(subtotal + tax_total)
        base_sub = _money(subtotal / sv.rate) if sv.rate else subtotal
        return {
            "grand_total": grand, "base_grand_total": _money(grand / sv.rate),
            "subtotal": subtotal, "base_subtotal": base_sub, "discount_amount": 0,
            "base_discount_amount": 0, "subtotal_with_discount": subtotal,
            "base_subtotal_with_discount": base_sub, "shipping_amount": 0,
            "base_shipping_amount": 0, "shipping_discount_amount": 0,
            "base_shipping_discount_amount": 0, "tax_amount": tax_total,
            "base_tax_amount": _money(tax_total / sv.rate), "weee_tax_applied_amount": None,
            "shipping_tax_amount": 0, "base_shipping_tax_amount": 0,
            "subtotal_incl_tax": _money(subtotal + tax_total), "shipping_incl_tax": 0,
            "base_shipping_incl_tax": 0, "base_currency_code": sv.base_currency,
            "quote_currency_code": sv.currency,
            "items_qty": int(sum(line[4] for line in q.lines)), "items": items,
            "total_segments": [
                {"code": "subtotal", "title": "Subtotal", "value": subtotal},
                {"code": "shipping", "title": "Shipping & Handling", "value": 0},
                {"code": "tax", "title": "Tax", "value": tax_total,
                 "extension_attributes": {"tax_grandtotal_details": []}},
                {"code": "grand_total", "title": "Grand Total", "value": grand,
                 "area": "footer"},
            ],
        }

    def group_json(self, g: Group) -> dict[str, Any]:
        name = TAX_CLASSES.get(g.tax_class_id, ("", ""))[0]
        return {"id": g.id, "code": g.code, "tax_class_id": g.tax_class_id,
                "tax_class_name": name}

    def block_json(self, b: Block) -> dict[str, Any]:
        return {"id": b.id, "identifier": b.identifier, "title": b.title,
                "content": b.content, "creation_time": fmt_time(b.creation_time),
                "update_time": fmt_time(b.update_time), "active": bool(b.active)}

    def website_json(self, w: Website) -> dict[str, Any]:
        return {"id": w.id, "code": w.code, "name": w.name,
                "default_group_id": w.default_group_id}

    def store_view_json(self, s: StoreView) -> dict[str, Any]:
        return {"id": s.id, "code": s.code, "name": s.name, "website_id": s.website_id,
                "store_group_id": s.store_group_id, "is_active": s.is_active}

    def store_config_json(self, s: StoreView, base_url: str) -> dict[str, Any]:
        locale = {"default": "en_US", "se": "sv_SE", "no": "nb_NO", "dk": "da_DK",
                  "fi": "fi_FI", "admin": "en_US"}.get(s.code, "en_US")
        tz = "America/Chicago" if s.website_id <= 1 else "Europe/Stockholm"
        root = f"{base_url}/"
        return {"id": s.id, "code": s.code, "website_id": s.website_id, "locale": locale,
                "base_currency_code": s.base_currency,
                "default_display_currency_code": s.currency, "timezone": tz,
                "weight_unit": "lbs" if s.website_id <= 1 else "kgs", "base_url": root,
                "base_link_url": root, "base_static_url": f"{root}static/",
                "base_media_url": f"{root}media/", "secure_base_url": root,
                "secure_base_link_url": root, "secure_base_static_url": f"{root}static/",
                "secure_base_media_url": f"{root}media/"}

    def store_group_json(self, g: StoreGroup) -> dict[str, Any]:
        return {"id": g.id, "website_id": g.website_id, "root_category_id": g.root_category_id,
                "default_store_id": g.default_store_id, "name": g.name, "code": g.code}

