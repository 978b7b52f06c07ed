"""Mutation helpers for tests and benches: they change the shop as Magento would, bumping
``updated_at`` — except address-only changes, which leave the customer's ``updated_at``
alone (docs/magento.md B5)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from bridge.sandbox.model import Address, Cart, Customer, Order
from bridge.sandbox.shop.records import DEFAULT_GROUP_ID


class MutationHelpers:
    """The helpers, mixed into ``Shop`` (state.py)."""

    def _customer(self, cid: int) -> Customer:
        c = self.customers.get(cid)
        if c is None:
            raise KeyError(f"no customer {cid}")
        return c

    def update_customer(self, cid: int, **fields: Any) -> Customer:
        """Change customer fields as an admin save would (bumps updated_at).

        ``custom`` takes a dict of attribute code -> value (None removes it).
        """
        with self.lock:
            c = self._customer(cid)
            old_key = (c.website_id, c.email.casefold())
            for k, v in fields.items():
                if k == "custom":
                    cm = dict(c.custom or ())
                    for ck, cv in v.items():
                        if cv is None:
                            cm.pop(ck, None)
                        else:
                            cm[ck] = str(cv)
                    c.custom = tuple(cm.items()) or None
                elif k in ("id", "addresses", "updated_at", "created_at"):
                    raise ValueError(f"update_customer cannot set {k}")
                elif k in Customer.__slots__:
                    setattr(c, k, v)
                else:
                    raise ValueError(f"unknown customer field {k}")
            self.email_index.pop(old_key, None)
            self.email_index[(c.website_id, c.email.casefold())] = c.id
            self.customers.set_time(c, "updated_at", self.now())
            return c

    def set_address(self, cid: int, address_id: int | None = None, *,
                    default_billing: bool | None = None, default_shipping: bool | None = None,
                    **fields: Any) -> int:
        """Change one address (or add one when address_id is None); returns its id.

        The customer's updated_at is NOT bumped: Magento stores addresses separately
        (docs/magento.md B5).
        """
        with self.lock:
            c = self._customer(cid)
            if "region" in fields and isinstance(fields["region"], str):
                fields["region"] = (fields["region"], fields["region"], 0)
            if "street" in fields and isinstance(fields["street"], str):
                fields["street"] = (fields["street"],)
            addrs = list(c.addresses)
            if address_id is None:
                base = Address(self.next_address_id, cid, c.firstname, c.lastname,
                               ("Testgatan 1",), "Stockholm", None, "SE", "111 22",
                               "+46 8 000 00 00")
                self.next_address_id += 1
                a = base.copy(**fields)
                addrs.append(a)
            else:
                for i, old in enumerate(addrs):
                    if old.id == address_id:
                        a = old.copy(**fields)
                        addrs[i] = a
                        break
                else:
                    raise KeyError(f"customer {cid} has no address {address_id}")
            c.addresses = tuple(addrs)
            if default_billing:
                c.default_billing = a.id
            elif default_billing is False and c.default_billing == a.id:
                c.default_billing = None
            if default_shipping:
                c.default_shipping = a.id
            elif default_shipping is False and c.default_shipping == a.id:
                c.default_shipping = None
            return a.id

    def remove_address(self, cid: int, address_id: int) -> None:
        """Delete one address (customer updated_at unchanged, as in Magento)."""
        with self.lock:
            c = self._customer(cid)
            if c.address(address_id) is None:
                raise KeyError(f"customer {cid} has no address {address_id}")
            c.addresses = tuple(a for a in c.addresses if a.id != address_id)
            if c.default_billing == address_id:
                c.default_billing = None
            if c.default_shipping == address_id:
                c.default_shipping = None

    def add_customer(self, email: str, firstname: str = "Test", lastname: str = "Kund",
                     website_id: int = 1, group_id: int = DEFAULT_GROUP_ID, **fields: Any
                     ) -> Customer:
        with self.lock:
            store_id = fields.pop("store_id", 1 if website_id == 1 else 2)
            cid = self.customers.next_id()
            now = self.now()
            c = Customer(id=cid, website_id=website_id, store_id=store_id, group_id=group_id,
                         email=email, firstname=firstname, lastname=lastname, created_at=now,
                         updated_at=now, created_in=self.store(store_id).name,
                         is_subscribed=False)
            for k, v in fields.items():
                if k == "custom":
                    c.custom = tuple((ck, str(cv)) for ck, cv in v.items()) or None
                elif k in Customer.__slots__:
                    setattr(c, k, v)
                else:
                    raise ValueError(f"unknown customer field {k}")
            self.customers.add(c)
            self.email_index[(website_id, email.casefold())] = cid
            return c

    def delete_customer(self, cid: int) -> None:
        """Delete a customer; their orders keep existing with customer_id NULL (FK)."""
        with self.lock:
            c = self.customers.delete(cid)
            if c is None:
                raise KeyError(f"no customer {cid}")
            self.email_index.pop((c.website_id, c.email.casefold()), None)
            for oid in self.orders_by_customer.pop(cid, []):
                o = self.orders.get(oid)
                if o is not None:
                    o.customer_id = None

    def _lines_for(self, items: Iterable[Any]) -> list[tuple[str, str, float, float, str, int]]:
        out = []
        for it in items:
            if isinstance(it, str):
                sku, qty, price = it, 1.0, None
            else:
                sku, qty = it[0], float(it[1])
                price = it[2] if len(it) > 2 else None
            found = self.sku_index.get(sku)
            if found is None:
                out.append((sku, sku, float(price or 10.0), qty, "simple", 0))
                continue
            p, kid = found
            out.append((sku, kid[2] if kid else p.name, float(price if price is not None
                                                              else p.price), qty,
                        p.type if not kid else "simple", kid[0] if kid else p.id))
        return out

    def add_order(self, customer_id: int | None, items: Iterable[Any] = ("SB-1000",),
                  status: str = "pending", store_id: int | None = None,
                  email: str | None = None, firstname: str | None = None,
                  lastname: str | None = None, created_at: int | None = None) -> Order:
        """Place an order now. items: skus or (sku, qty[, price]) tuples."""
        with self.lock:
            c = self.customers.get(customer_id) if customer_id is not None else None
            if customer_id is not None and c is None:
                raise KeyError(f"no customer {customer_id}")
            store = store_id or (c.store_id if c else 1)
            now = created_at if created_at is not None else self.now()
            if c is not None:
                bill = c.address(c.default_billing) or (c.addresses[0] if c.addresses else None)
                ship = c.address(c.default_shipping) or bill
            else:
                bill = ship = None
            if bill is None:
                bill = ship = Address(0, customer_id, firstname or (c.firstname if c else "Guest"),
                                      lastname or (c.lastname if c else "Shopper"),
                                      ("Testgatan 1",), "Stockholm", None, "SE", "111 22",
                                      "+46 8 000 00 00")
            seq = self.order_seq.get(store, 0) + 1
            self.order_seq[store] = seq
            o = Order(id=self.orders.next_id(), seq=seq, customer_id=customer_id,
                      email=email or (c.email if c else "guest@example.org"),
                      firstname=firstname or (c.firstname if c else "Guest"),
                      lastname=lastname or (c.lastname if c else "Shopper"),
                      group_id=c.group_id if c else 0, store_id=store, status=status,
                      created_at=now, updated_at=now, seed=0, lines=self._lines_for(items),
                      billing=bill, shipping=ship)
            self.set_order_totals(o)
            self.orders.add(o)
            if customer_id is not None:
                self.orders_by_customer.setdefault(customer_id, []).append(o.id)
            return o

    def set_order_status(self, order_id: int, status: str) -> Order:
        with self.lock:
            o = self.orders.get(order_id)
            if o is None:
                raise KeyError(f"no order {order_id}")
            o.status = status
            self.orders.set_time(o, "updated_at", self.now())
            return o

    def add_cart(self, customer_id: int | None, items: Iterable[Any] = ("SB-1000",),
                 active: bool = True, store_id: int | None = None,
                 email: str | None = None) -> Cart:
        """A new quote (one active quote per customer: an older active one is replaced)."""
        with self.lock:
            c = self.customers.get(customer_id) if customer_id is not None else None
            if customer_id is not None and c is None:
                raise KeyError(f"no customer {customer_id}")
            now = self.now()
            if active and c is not None:
                for qid in self.carts_by_customer.get(c.id, []):
                    old = self.carts.get(qid)
                    if old is not None and old.is_active:
                        old.is_active = False
                        self.carts.set_time(old, "updated_at", now)
            q = Cart(id=self.carts.next_id(), customer_id=customer_id,
                     email=email or (c.email if c else "guest@example.org"),
                     firstname=c.firstname if c else None, lastname=c.lastname if c else None,
                     group_id=c.group_id if c else 0,
                     store_id=store_id or (c.store_id if c else 1), is_active=active,
                     lines=[], created_at=now, updated_at=now)
            self._set_cart_lines(q, items)
            self.carts.add(q)
            if customer_id is not None:
                self.carts_by_customer.setdefault(customer_id, []).append(q.id)
            return q

    def _set_cart_lines(self, q: Cart, items: Iterable[Any]) -> None:
        lines = []
        for sku, name, price, qty, ptype, _pid in self._lines_for(items):
            lines.append((self.next_cart_item_id, sku, name, price, qty,
                          "configurable" if ptype == "configurable" else ptype))
            self.next_cart_item_id += 1
        q.lines = lines

    def update_cart(self, cart_id: int, items: Iterable[Any] | None = None,
                    add: Iterable[Any] | None = None) -> Cart:
        """Replace the cart's items (``items``) or append some (``add``); bumps updated_at."""
        with self.lock:
            q = self.carts.get(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            if items is not None:
                self._set_cart_lines(q, items)
            if add is not None:
                keep = list(q.lines)
                self._set_cart_lines(q, add)
                q.lines = keep + q.lines
            self.carts.set_time(q, "updated_at", self.now())
            return q

    def convert_cart(self, cart_id: int, place_order: bool = True) -> Order | None:
        """Check out: the quote turns inactive (its items stop showing), an order appears."""
        with self.lock:
            q = self.carts.get(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            now = self.now()
            order = None
            if place_order:
                order = self.add_order(q.customer_id, [(ln[1], ln[4], ln[3]) for ln in q.lines],
                                       status="pending", store_id=q.store_id, email=q.email,
                                       firstname=q.firstname, lastname=q.lastname)
                q.reserved_order_id = self.increment_id(order)
            q.is_active = False
            q.converted_at = now
            self.carts.set_time(q, "updated_at", now)
            return order

    def delete_cart(self, cart_id: int) -> None:
        """Remove a quote (Magento's quote cleanup cron)."""
        with self.lock:
            q = self.carts.delete(cart_id)
            if q is None:
                raise KeyError(f"no cart {cart_id}")
            if q.customer_id is not None:
                lst = self.carts_by_customer.get(q.customer_id, [])
                if cart_id in lst:
                    lst.remove(cart_id)

    def touch(self, customers: float = 0.0, orders: float = 0.0, carts: float = 0.0,
              addresses: float = 0.0, seed: int | None = None) -> dict[str, list[int]]:
        """Change a random share of each kind of record now (for incremental-sync benches).

        customers: lastname/telephone-style edits (updated_at bumped); orders: status moves;
        carts: an item added; addresses: a city changed (customer updated_at NOT bumped).
        """
        r = random.Random(seed) if seed is not None else self._touch_rng
        out: dict[str, list[int]] = {"customers": [], "orders": [], "carts": [],
                                     "addresses": []}
        with self.lock:
            if customers:
                ids = self.customers.ids
                for cid in r.sample(ids, min(len(ids), int(len(ids) * customers + 0.5))):
                    c = self.customers.rows[cid]
                    self.update_customer(cid, lastname=c.lastname.rstrip("*") + "*"
                                         if r.random() < 0.5 else c.lastname.rstrip("*"),
                                         is_subscribed=not c.is_subscribed)
                    out["customers"].append(cid)
            if orders:
                ids = self.orders.ids
                nxt = {"pending": "processing", "processing": "complete",
                       "complete": "closed", "holded": "processing"}
                for oid in r.sample(ids, min(len(ids), int(len(ids) * orders + 0.5))):
                    o = self.orders.rows[oid]
                    self.set_order_status(oid, nxt.get(o.status, o.status))
                    out["orders"].append(oid)
            if carts:
                ids = [i for i in self.carts.ids if self.carts.rows[i].is_active]
                for qid in r.sample(ids, min(len(ids), int(len(ids) * carts + 0.5))):
                    p = self.catalog[r.randrange(len(self.catalog))]
                    self.update_cart(qid, add=[(p.children[0][1] if p.children else p.sku, 1)])
                    out["carts"].append(qid)
            if addresses:
                ids = [i for i in self.customers.ids if self.customers.rows[i].addresses]
                for cid in r.sample(ids, min(len(ids), int(len(ids) * addresses + 0.5))):
                    c = self.customers.rows[cid]
                    a = c.addresses[r.randrange(len(c.addresses))]
                    self.set_address(cid, a.id, city=a.city.rstrip("*") + "*")
                    out["addresses"].append(cid)
        return out
