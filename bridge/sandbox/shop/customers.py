"""Customer saves as the REST API does them: PUT (with or without the merge plugin) and
POST /V1/customers (docs/magento.md S8, S10, A)."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.errors import ApiError, invalid_value, no_such_entity, required
from bridge.sandbox.model import Address, Customer, fmt_time
from bridge.sandbox.shop.records import ADDRESS_KEYS, CUSTOMER_KEYS, _as_int, _check_keys


class CustomerSaves:
    """Customer saves, mixed into ``Shop`` (state.py)."""

    def _resolve_group(self, value: Any) -> int:
        gid = _as_int(value, "group_id")
        if gid not in self.groups:
            raise ApiError(400, "The specified customer group id does not exist.")
        return gid

    def _address_from_json(self, data: dict[str, Any], customer_id: int,
                           existing: Address | None) -> Address:
        """One entry of an ``addresses`` list, as AddressRepository saves it.

        The entry is the whole address: fields it leaves out are not taken from the stored
        address (a required one missing is a 400, an optional one is cleared).
        """
        if not isinstance(data, dict):
            raise invalid_value("addresses", data)
        _check_keys(data, ADDRESS_KEYS)
        for key, label in (("firstname", "firstname"), ("lastname", "lastname"),
                           ("street", "street"), ("city", "city"),
                           ("country_id", "countryId"), ("telephone", "telephone")):
            if data.get(key) in (None, "", []):
                raise ApiError(400, '"%fieldName" is required. Enter and try again.',
                               {"fieldName": label})
        r = data.get("region") or {}
        if isinstance(r, str):
            r = {"region": r}
        rid = data.get("region_id", r.get("region_id")) or 0
        name = r.get("region")
        code = r.get("region_code") or name
        region = (code, name, _as_int(rid, "region_id")) if (name or code or rid) else None
        street = data["street"]
        if isinstance(street, str):
            street = [street]
        aid = existing.id if existing else self.next_address_id
        if existing is None:
            self.next_address_id += 1
        return Address(
            aid, customer_id, str(data["firstname"]), str(data["lastname"]),
            tuple(str(x) for x in street), str(data["city"]), region, str(data["country_id"]),
            str(data.get("postcode") or ""), str(data["telephone"]),
            data.get("company") or None, data.get("vat_id") or None,
        )

    def save_customer(self, cid: int, body: Any, merge: bool = True) -> dict[str, Any]:
        """PUT /V1/customers/{id}: CustomerRepository::save behind the REST merge plugin.

        merge=True: the body's keys overlay the stored customer (2.4 UpdateCustomer plugin).
        merge=False: the patch releases that skip the merge for integration callers: the
        body IS the customer — omitted fields are reset (group -> default, dob/gender/taxvat
        cleared, custom attributes dropped); a body without ``id`` is a create (duplicate
        e-mail). Addresses and default billing/shipping follow CustomerRepository either way.
        """
        if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
            raise required("customer")
        data: dict[str, Any] = body["customer"]
        _check_keys(data, CUSTOMER_KEYS)
        with self.lock:
            c = self.customers.get(cid)
            if c is None:
                raise no_such_entity("customerId", cid)
            if "id" in data and data["id"] is not None:
                if _as_int(data["id"], "id") != cid:
                    raise invalid_value("id", data["id"])
            elif not merge:
                # no id and no merge: Magento treats the save as a new customer
                email = data.get("email")
                if not email:
                    raise ApiError(400, "The customer email is missing. Enter and try again.")
                website = _as_int(data.get("website_id", c.website_id), "website_id")
                if (website, str(email).casefold()) in self.email_index:
                    raise ApiError(400, "A customer with the same email address already "
                                        "exists in an associated website.")
            customs = data.get("custom_attributes")
            if customs is not None:
                if not isinstance(customs, list):
                    raise invalid_value("custom_attributes", customs)
                for ca in customs:
                    if not isinstance(ca, dict) or "attribute_code" not in ca:
                        raise invalid_value("custom_attributes", ca)
                    if ca.get("value") is None:
                        raise ApiError(400, 'Error occurred during "%field_name" processing. '
                                       '%details', {"field_name": "custom_attributes",
                                                    "details": 'Value is not set for attribute '
                                                    f'code "{ca["attribute_code"]}"'})
            if merge:
                current = self.customer_json(c)
                merged = dict(current)
                merged.update(data)
            else:
                merged = dict(data)
                merged.setdefault("website_id", c.website_id)
                merged.setdefault("store_id", c.store_id)
                merged.setdefault("created_at", fmt_time(c.created_at))
                merged.setdefault("created_in", c.created_in)
                if "default_billing" not in merged and c.default_billing is not None:
                    merged["default_billing"] = str(c.default_billing)
                if "default_shipping" not in merged and c.default_shipping is not None:
                    merged["default_shipping"] = str(c.default_shipping)
            # ---- validation on the merged object (validation.xml / ResourceModel)
            if not merged.get("email"):
                raise ApiError(400, "The customer email is missing. Enter and try again.")
            for key, label in (("firstname", "First Name"), ("lastname", "Last Name")):
                if not merged.get(key):
                    raise ApiError(400, '"%1" is a required value.', [label])
            website = _as_int(merged.get("website_id"), "website_id")
            if website not in (1, 2):
                raise ApiError(400, '"%1" is a required value.', ["Associate to Website"])
            email = str(merged["email"])
            other = self.email_index.get((website, email.casefold()))
            if other is not None and other != cid:
                raise ApiError(400, "A customer with the same email address already exists "
                                    "in an associated website.")
            group_id = self._resolve_group(merged["group_id"]) if merged.get("group_id") \
                is not None else self.default_group_id
            gender = merged.get("gender")
            if gender is not None:
                gender = _as_int(gender, "gender")
            store_id = _as_int(merged.get("store_id", c.store_id), "store_id")
            # ---- addresses: present -> final state of the book; absent -> untouched
            addresses = list(c.addresses)
            new_billing = c.default_billing
            new_shipping = c.default_shipping
            if "addresses" in data and data["addresses"] is not None:
                if not isinstance(data["addresses"], list):
                    raise invalid_value("addresses", data["addresses"])
                by_id = {a.id: a for a in c.addresses}
                saved: list[Address] = []
                flag_billing = flag_shipping = None
                next_aid = self.next_address_id
                try:
                    for ad in data["addresses"]:
                        aid = ad.get("id") if isinstance(ad, dict) else None
                        existing = by_id.get(_as_int(aid, "id")) if aid else None
                        if aid and existing is None:
                            raise no_such_entity("addressId", aid)
                        a = self._address_from_json(ad, cid, existing)
                        saved.append(a)
                        if ad.get("default_billing"):
                            flag_billing = a.id
                        if ad.get("default_shipping"):
                            flag_shipping = a.id
                except ApiError:
                    self.next_address_id = next_aid
                    raise
                addresses = saved
                kept = {a.id for a in saved}
                if new_billing not in kept:
                    new_billing = None
                if new_shipping not in kept:
                    new_shipping = None
                if flag_billing is not None:
                    new_billing = flag_billing
                if flag_shipping is not None:
                    new_shipping = flag_shipping
            ids = {a.id for a in addresses}
            for key in ("default_billing", "default_shipping"):
                if key in data and data[key] not in (None, ""):
                    val = _as_int(data[key], key)
                    if val not in ids:
                        raise ApiError(400, "The %fieldName value is invalid. Set the correct "
                                            "value and try again.", {"fieldName": key})
                    if key == "default_billing":
                        new_billing = val
                    else:
                        new_shipping = val
            custom: tuple[tuple[str, str], ...] | None
            if "custom_attributes" in merged and merged["custom_attributes"] is not None:
                if merge and customs is not None:
                    cm = dict(c.custom or ())
                    for ca in customs:
                        cm[str(ca["attribute_code"])] = str(ca["value"])
                    custom = tuple(cm.items()) or None
                elif customs is not None:
                    custom = tuple((str(ca["attribute_code"]), str(ca["value"]))
                                   for ca in customs) or None
                else:
                    custom = c.custom
            else:
                custom = None if not merge else c.custom
            ext = data.get("extension_attributes")
            subscribed = c.is_subscribed
            if isinstance(ext, dict) and "is_subscribed" in ext:
                subscribed = bool(ext["is_subscribed"])
            # ---- apply
            old_key = (c.website_id, c.email.casefold())
            c.email = email
            c.website_id = website
            c.store_id = store_id
            c.group_id = group_id
            c.firstname = str(merged["firstname"])
            c.lastname = str(merged["lastname"])
            c.middlename = merged.get("middlename") or None
            c.prefix = merged.get("prefix") or None
            c.suffix = merged.get("suffix") or None
            c.dob = (str(merged["dob"])[:10] if merged.get("dob") else None)
            c.gender = gender
            c.taxvat = merged.get("taxvat") or None
            c.disable_auto_group_change = _as_int(merged.get("disable_auto_group_change") or 0,
                                                  "disable_auto_group_change")
            c.addresses = tuple(addresses)
            c.default_billing = new_billing
            c.default_shipping = new_shipping
            c.custom = custom
            c.is_subscribed = subscribed
            self.email_index.pop(old_key, None)
            self.email_index[(website, email.casefold())] = cid
            self.customers.set_time(c, "updated_at", self.now())
            return self.customer_json(c)

    def create_customer(self, body: Any) -> dict[str, Any]:
        """POST /V1/customers (AccountManagement::createAccount)."""
        if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
            raise required("customer")
        data = dict(body["customer"])
        _check_keys(data, CUSTOMER_KEYS)
        if not data.get("email"):
            raise ApiError(400, "The customer email is missing. Enter and try again.")
        for key, label in (("firstname", "First Name"), ("lastname", "Last Name")):
            if not data.get(key):
                raise ApiError(400, '"%1" is a required value.', [label])
        with self.lock:
            website = _as_int(data.get("website_id", 1), "website_id")
            if website not in (1, 2):
                raise ApiError(400, '"%1" is a required value.', ["Associate to Website"])
            if (website, str(data["email"]).casefold()) in self.email_index:
                raise ApiError(400, "A customer with the same email address already exists "
                                    "in an associated website.")
            store_id = _as_int(data.get("store_id", 1 if website == 1 else 2), "store_id")
            group = self._resolve_group(data.get("group_id", self.default_group_id))
            cid = self.customers.next_id()
            now = self.now()
            c = Customer(id=cid, website_id=website, store_id=store_id, group_id=group,
                         email=str(data["email"]), firstname=str(data["firstname"]),
                         lastname=str(data["lastname"]), created_at=now, updated_at=now,
                         created_in=self.store(store_id).name, is_subscribed=False)
            self.customers.add(c)
            self.email_index[(website, c.email.casefold())] = cid
            rest = {k: v for k, v in data.items() if k not in ("email", "website_id", "store_id",
                                                                 "group_id")}
            try:
                if rest:
                    return self.save_customer(cid, {"customer": {**rest, "id": cid}}, True)
            except ApiError:
                self.customers.delete(cid)
                self.email_index.pop((website, c.email.casefold()), None)
                raise
            return self.customer_json(c)

