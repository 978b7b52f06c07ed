"""Deterministic data for the sandbox shop: the same seed and anchor give the same shop.

Everything is drawn from one ``random.Random(seed)`` in a fixed order. Order items are not
stored: they are derived from a per-order integer seed by a cheap integer hash, both when
the order totals are computed here and when the order is rendered.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass

from bridge.sandbox.model import Address, Cart, Customer, Order, ShopTables

DAY = 86400
YEAR = 365 * DAY

# ---------------------------------------------------------------------------------------
# name and address pools (non-ASCII on purpose: Ödegaard, Łukasz, Groß …)

_COUNTRIES: dict[str, dict] = {
    "US": {
        "first": ["James", "Mary", "Robert", "Patricia", "Michael", "Linda", "David", "Zoë",
                  "Emily", "Daniel", "Sarah", "José"],
        "last": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "García",
                 "O'Brien", "Nguyen"],
        "cities": ["Austin", "Seattle", "Chicago", "Boston", "Denver", "Miami"],
        "regions": [("CA", "California", 12), ("NY", "New York", 43), ("TX", "Texas", 57),
                    ("WA", "Washington", 62), ("FL", "Florida", 18), ("IL", "Illinois", 23)],
        "streets": ["Main Street", "Oak Avenue", "Maple Drive", "Sunset Blvd"],
        "postcode": "#####", "phone": "+1 ###-###-####", "domain": "example.com",
    },
    "SE": {
        "first": ["Åsa", "Björn", "Erik", "Märta", "Sören", "Linnéa", "Oskar", "Maja"],
        "last": ["Andersson", "Lindström", "Bergqvist", "Åkesson", "Nyström", "Öberg"],
        "cities": ["Stockholm", "Göteborg", "Malmö", "Uppsala", "Västerås"],
        "regions": [("Stockholms län", "Stockholms län", 0), ("Skåne", "Skåne", 0)],
        "streets": ["Storgatan", "Drottninggatan", "Kungsvägen", "Järnvägsgatan"],
        "postcode": "### ##", "phone": "+46 7# ### ## ##", "domain": "example.se",
    },
    "NO": {
        "first": ["Øyvind", "Ingrid", "Håkon", "Solveig", "Kjersti", "Lars"],
        "last": ["Ødegaard", "Hansen", "Johansen", "Bjørnstad", "Solberg", "Haugen"],
        "cities": ["Oslo", "Bergen", "Trondheim", "Tromsø", "Stavanger"],
        "regions": [("Oslo", "Oslo", 0), ("Vestland", "Vestland", 0)],
        "streets": ["Karl Johans gate", "Bryggen", "Storgata"],
        "postcode": "####", "phone": "+47 ### ## ###", "domain": "example.no",
    },
    "DK": {
        "first": ["Søren", "Mette", "Jens", "Freja", "Mads"],
        "last": ["Jørgensen", "Nielsen", "Sørensen", "Kristensen", "Møller"],
        "cities": ["København", "Aarhus", "Odense", "Aalborg"],
        "regions": [("Hovedstaden", "Hovedstaden", 0)],
        "streets": ["Strøget", "Nørregade", "Vestergade"],
        "postcode": "####", "phone": "+45 ## ## ## ##", "domain": "example.dk",
    },
    "FI": {
        "first": ["Mikko", "Aino", "Jyrki", "Päivi", "Sanna"],
        "last": ["Virtanen", "Mäkinen", "Hämäläinen", "Korhonen"],
        "cities": ["Helsinki", "Espoo", "Tampere", "Turku"],
        "regions": [("Uusimaa", "Uusimaa", 339), ("Pirkanmaa", "Pirkanmaa", 334)],
        "streets": ["Mannerheimintie", "Aleksanterinkatu", "Hämeenkatu"],
        "postcode": "#####", "phone": "+358 40 ### ####", "domain": "example.fi",
    },
    "DE": {
        "first": ["Jürgen", "Anna", "Lukas", "Sophie", "Günther", "Lena"],
        "last": ["Müller", "Groß", "Schäfer", "Weiß", "Becker", "Schmidt"],
        "cities": ["Berlin", "München", "Hamburg", "Köln", "Düsseldorf"],
        "regions": [("BER", "Berlin", 82), ("BAY", "Bayern", 81), ("HH", "Hamburg", 84),
                    ("NRW", "Nordrhein-Westfalen", 88)],
        "streets": ["Hauptstraße", "Bahnhofstraße", "Schloßallee", "Gartenweg"],
        "postcode": "#####", "phone": "+49 30 #######", "domain": "example.de",
    },
    "PL": {
        "first": ["Łukasz", "Agnieszka", "Paweł", "Małgorzata", "Krzysztof"],
        "last": ["Wójcik", "Kowalski", "Nowak", "Wiśniewska", "Zieliński"],
        "cities": ["Warszawa", "Kraków", "Łódź", "Wrocław", "Gdańsk"],
        "regions": [("PL-14", "mazowieckie", 1093), ("PL-12", "małopolskie", 1092)],
        "streets": ["ul. Marszałkowska", "ul. Długa", "ul. Świętokrzyska"],
        "postcode": "##-###", "phone": "+48 ### ### ###", "domain": "example.pl",
    },
    "FR": {
        "first": ["Zoé", "Hélène", "François", "Amélie", "Jérôme"],
        "last": ["Lefèvre", "Dubois", "Moreau", "Girard", "Lemaître"],
        "cities": ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes"],
        "regions": [("75", "Paris", 257), ("69", "Rhône", 251), ("13", "Bouches-du-Rhône", 195)],
        "streets": ["Rue de Rivoli", "Boulevard Haussmann", "Rue Mouffetard"],
        "postcode": "#####", "phone": "+33 1 ## ## ## ##", "domain": "example.fr",
    },
    "GB": {
        "first": ["Oliver", "Amelia", "Harry", "Isla", "Siobhán"],
        "last": ["Taylor", "Wilson", "Evans", "Thomas", "Roberts"],
        "cities": ["London", "Manchester", "Leeds", "Bristol"],
        "regions": [("Greater London", "Greater London", 0)],
        "streets": ["High Street", "Station Road", "Church Lane"],
        "postcode": "SW1A #AA", "phone": "+44 20 #### ####", "domain": "example.co.uk",
    },
    "CH": {
        "first": ["Reto", "Nadine", "Urs", "Céline"],
        "last": ["Meier", "Brunner", "Gämperli", "Züger"],
        "cities": ["Zürich", "Genève", "Basel", "Bern"],
        "regions": [("ZH", "Zürich", 130), ("GE", "Genève", 111)],
        "streets": ["Bahnhofstrasse", "Rue du Rhône", "Marktgasse"],
        "postcode": "####", "phone": "+41 44 ### ## ##", "domain": "example.ch",
    },
    "ES": {
        "first": ["Iñigo", "Lucía", "Sofía", "Andrés"],
        "last": ["Núñez", "García", "Peña", "Fernández"],
        "cities": ["Madrid", "Barcelona", "Sevilla", "Valencia"],
        "regions": [("M", "Madrid", 161), ("B", "Barcelona", 139)],
        "streets": ["Calle Mayor", "Gran Vía", "Paseo de Gracia"],
        "postcode": "#####", "phone": "+34 9## ### ###", "domain": "example.es",
    },
    "CA": {
        "first": ["Émile", "Chloé", "Liam", "Noah"],
        "last": ["Tremblay", "Gagnon", "Côté", "Roy"],
        "cities": ["Montréal", "Toronto", "Québec", "Vancouver"],
        "regions": [("QC", "Québec", 76), ("ON", "Ontario", 74)],
        "streets": ["Rue Sainte-Catherine", "Yonge Street", "Boulevard René-Lévesque"],
        "postcode": "H#A #B#", "phone": "+1 514 ### ####", "domain": "example.ca",
    },
}

# country weights per website: base (US-centred) and nordic
_BASE_COUNTRIES = (["US"] * 6 + ["GB"] * 2 + ["DE"] * 2 + ["FR", "ES", "CA", "CH", "PL"])
_NORDIC_COUNTRIES = (["SE"] * 6 + ["NO"] * 4 + ["DK"] * 3 + ["FI"] * 2 + ["DE", "PL"])

CUSTOM_ATTRIBUTES = ("loyalty_tier", "preferred_language", "b2b_account")
_TIERS = ["bronze", "silver", "gold", "platinum"]
_LANGS = ["en_US", "sv_SE", "nb_NO", "da_DK", "fi_FI", "de_DE", "fr_FR", "pl_PL"]

# r.choices with precomputed cum_weights draws exactly what weights= would, without
# re-adding the weights on every call
_N_ADDR, _N_ADDR_CUM = (0, 1, 2, 3), (15, 70, 90, 100)
_N_LINES, _N_LINES_CUM = (1, 2, 3, 4, 5), (40, 70, 85, 95, 100)

ORDER_STATUSES = ("pending", "processing", "complete", "canceled", "closed", "holded")
_STATUS_WEIGHTS = (8, 15, 55, 10, 7, 5)
STATUS_STATE = {
    "pending": "new", "processing": "processing", "complete": "complete",
    "canceled": "canceled", "closed": "closed", "holded": "holded",
}

_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae",
                           "Æ": "AE", "đ": "d", "'": ""})


def ascii_slug(text: str) -> str:
    """Ödegaard -> odegaard, Łukasz -> lukasz, Groß -> gross (for e-mail local parts)."""
    t = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    t = t.encode("ascii", "ignore").decode().lower()
    return "".join(c for c in t if c.isalnum())


def _pattern(r: random.Random, pat: str) -> str:
    """Fill each ``#`` of a pattern with a random digit.

    One draw per digit: cheaper variants change every generated shop, and other tests
    are written against these shops.
    """
    below = r._randbelow  # what randrange(10) draws, without its argument checks
    return "".join(str(below(10)) if c == "#" else c for c in pat)


# ---------------------------------------------------------------------------------------
# catalog and derived order lines

@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    price: float
    type: str  # simple | configurable | virtual
    children: tuple[tuple[int, str, str], ...] = ()  # (product_id, sku, name) of variants


_ADJ = ["Classic", "Urban", "Nordic", "Summit", "Breeze", "Aurora", "Fjord", "Coastal"]
_NOUN = ["Tee", "Hoodie", "Backpack", "Water Bottle", "Yoga Mat", "Jacket", "Sneaker",
         "Beanie", "Mug", "Notebook", "Headphones", "Sunglasses"]
_SIZES = ["XS", "S", "M", "L", "XL"]
_COLORS = ["Red", "Blue", "Black", "Green", "Gray"]


def make_catalog(seed: int) -> list[Product]:
    r = random.Random(seed * 7919 + 17)
    out: list[Product] = []
    pid = 1
    for i in range(120):
        name = f"{_ADJ[i % len(_ADJ)]} {_NOUN[(i // len(_ADJ)) % len(_NOUN)]}"
        price = round(r.choice([9, 14, 19, 24, 29, 39, 49, 59, 79, 99, 149]) + 0.99, 2) \
            if r.random() < 0.7 else round(r.uniform(5, 250), 2)
        ptype = "virtual" if i % 29 == 0 else "simple"
        out.append(Product(pid, f"SB-{1000 + i}", name, price, ptype))
        pid += 1
    for i in range(30):
        base = f"CF-{200 + i}"
        name = f"{_ADJ[(i + 3) % len(_ADJ)]} {_NOUN[i % len(_NOUN)]} (configurable)"
        price = round(r.choice([29, 39, 49, 69, 89, 129]) + 0.95, 2)
        kids = []
        for s in r.sample(_SIZES, 3):
            color = _COLORS[r.randrange(len(_COLORS))]
            kids.append((pid + 1 + len(kids), f"{base}-{s}-{color}", f"{name[:-15]} {s} {color}"))
        out.append(Product(pid, base, name[:-15].strip(), price, "configurable", tuple(kids)))
        pid += 1 + len(kids)
    return out


def mix64(x: int) -> int:
    """splitmix64: a cheap, well-spread integer hash for derived per-order choices."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def derived_lines(seed: int, catalog: list[Product]) -> list[tuple[Product, int]]:
    """The (product, qty) lines of a generated order, from its seed alone."""
    h = mix64(seed)
    n = 1 + (h & 3)
    if n == 4 and (h >> 2) & 1:
        n = 1
    out = []
    ncat = len(catalog)
    for k in range(n):
        hk = mix64(h + k)
        p = catalog[hk % ncat]
        qty = 1 + ((hk >> 20) % 5 == 0) + ((hk >> 24) % 11 == 0) * 2
        out.append((p, qty))
    return out


def variant_of(p: Product, seed: int) -> tuple[int, str, str]:
    return p.children[mix64(seed ^ p.id) % len(p.children)]


# ---------------------------------------------------------------------------------------


def _person(r: random.Random, country: str) -> tuple[str, str]:
    pool = _COUNTRIES[country]
    return r.choice(pool["first"]), r.choice(pool["last"])


def make_address(r: random.Random, aid: int, customer_id: int | None, country: str,
                 firstname: str, lastname: str) -> Address:
    pool = _COUNTRIES[country]
    region = r.choice(pool["regions"])
    company = r.choice(["Acme AB", "Nordlys AS", "Brück GmbH", "Żabka Sp. z o.o."]) \
        if r.random() < 0.12 else None
    vat = f"{country}{_pattern(r, '##########')}" if company and r.random() < 0.6 else None
    street: tuple[str, ...] = (f"{r.choice(pool['streets'])} {r.randrange(1, 180)}",)
    if r.random() < 0.15:
        street = street + (f"Apt {r.randrange(1, 60)}",)
    return Address(aid, customer_id, firstname, lastname, street, r.choice(pool["cities"]),
                   region, country, _pattern(r, pool["postcode"]), _pattern(r, pool["phone"]),
                   company, vat)


def _when(r: random.Random, lo: int, hi: int) -> int:
    return lo if hi <= lo else r.randrange(lo, hi + 1)


def generate(shop: ShopTables, customers: int, seed: int, orders_per_customer: float,
             active_carts: float) -> None:
    """Fill ``shop`` (already holding stores and groups) with customers, orders and carts."""
    r = random.Random(seed)
    anchor = shop.clock.now()
    catalog = shop.catalog
    stores_by_website = {1: [1], 2: [2, 3, 4]}
    store_country = {1: None, 2: "SE", 3: "NO", 4: "DK"}
    names = {s.id: s.name for s in shop.stores}

    # --- customers: created_at ascending, so ids grow with creation time as in Magento
    created = sorted(anchor - int(YEAR * 3 * r.random() ** 0.8) for _ in range(customers))
    cluster_at = anchor - 2 * DAY - 3 * 3600  # a mass action: many rows share one second
    seen_emails: dict[tuple[int, str], int] = {}
    all_emails: list[str] = []
    cust_list: list[Customer] = []
    next_aid = 1
    for idx, c_at in enumerate(created):
        cid = idx + 1
        website = 1 if r.random() < 0.6 else 2
        store = r.choice(stores_by_website[website])
        home = store_country[store] or r.choice(_BASE_COUNTRIES)
        if website == 2 and r.random() < 0.3:
            home = r.choice(_NORDIC_COUNTRIES)
        first, last = _person(r, home)
        local = f"{ascii_slug(first)}.{ascii_slug(last)}{cid}"
        email = f"{local}@{_COUNTRIES[home]['domain']}"
        if all_emails and r.random() < 0.01:
            # the same person registered in the other website too (same e-mail, two ids)
            candidate = all_emails[r.randrange(len(all_emails))]
            if (website, candidate.casefold()) not in seen_emails:
                email = candidate
        if r.random() < 0.02:
            email = email.capitalize()  # Magento compares e-mails case-insensitively
        seen_emails[(website, email.casefold())] = cid
        all_emails.append(email)
        roll = r.random()
        group = 2 if roll < 0.05 else 3 if roll < 0.10 else 1
        u = r.random()
        if u < 0.4:
            upd = c_at
        elif u < 0.43 and cluster_at > c_at:
            upd = cluster_at
        else:
            upd = c_at + int((anchor - c_at) * (1 - r.random() ** 2))
        dob = None
        if r.random() < 0.7:
            y = r.randrange(1945, 2006)
            if r.random() < 0.01:
                dob = f"{y - y % 4 + (4 if y % 4 else 0)}-02-29"
            else:
                dob = f"{y}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"
        gender = r.choice([1, 2, 1, 2, 3]) if r.random() < 0.8 else None
        taxvat = _pattern(r, "SE##########01") if home == "SE" and r.random() < 0.2 else (
            _pattern(r, "DE#########") if r.random() < 0.03 else None)
        custom: tuple[tuple[str, str], ...] | None = None
        if r.random() < 0.35:
            items = [("loyalty_tier", r.choice(_TIERS))]
            if r.random() < 0.5:
                items.append(("preferred_language", r.choice(_LANGS)))
            if group == 2 or r.random() < 0.05:
                items.append(("b2b_account", "1"))
            custom = tuple(items)
        n_addr = r.choices(_N_ADDR, cum_weights=_N_ADDR_CUM)[0]
        addrs = []
        for k in range(n_addr):
            country = home if k == 0 or r.random() < 0.7 else r.choice(list(_COUNTRIES))
            f2, l2 = (first, last) if r.random() < 0.85 else _person(r, country)
            addrs.append(make_address(r, next_aid, cid, country, f2, l2))
            next_aid += 1
        billing = shipping = None
        if addrs:
            billing = addrs[0].id
            shipping = addrs[-1].id if r.random() < 0.3 else addrs[0].id
            if r.random() < 0.05:
                billing = None  # an address book without a default billing address
        cust_list.append(Customer(
            id=cid, website_id=website, store_id=store, group_id=group, email=email,
            firstname=first, lastname=last,
            middlename=r.choice(["A.", "Maria", "J."]) if r.random() < 0.05 else None,
            prefix=r.choice(["Mr.", "Ms.", "Dr."]) if r.random() < 0.04 else None,
            suffix="Jr." if r.random() < 0.01 else None,
            dob=dob, gender=gender, taxvat=taxvat, created_at=c_at, updated_at=upd,
            created_in=names[store], is_subscribed=r.random() < 0.3,
            default_billing=billing, default_shipping=shipping, addresses=tuple(addrs),
            custom=custom,
        ))
    shop.customers.load_sorted(cust_list)
    shop.next_address_id = next_aid
    shop.rebuild_email_index()

    # --- orders: registered and guest; ids assigned in created_at order
    pending: list[tuple[int, Customer | None, int]] = []
    registered_share = 0.9
    mean = orders_per_customer * registered_share
    for c in cust_list:
        if mean <= 0:
            break
        k = int(r.expovariate(1.0 / (mean + 0.5))) if r.random() < 0.85 else 0
        k = int(k / 0.85 + 0.5) if k else 0
        for _ in range(k):
            pending.append((_when(r, c.created_at, anchor - 60), c, r.getrandbits(48)))
    n_guest = int(len(pending) * (1 - registered_share) / registered_share + 0.5)
    for _ in range(n_guest):
        pending.append((anchor - int(YEAR * 3 * r.random()), None, r.getrandbits(48)))
    pending.sort(key=lambda t: t[0])
    status_cum = list(itertools.accumulate(_STATUS_WEIGHTS))
    orders: list[Order] = []
    seq_by_store: dict[int, int] = {}
    for oid, (o_at, c, oseed) in enumerate(pending, start=1):
        if c is not None:
            store = c.store_id if r.random() < 0.9 else r.choice(stores_by_website[c.website_id])
            email, first, last, group = c.email, c.firstname, c.lastname, c.group_id
            bill = c.address(c.default_billing) or (c.addresses[0] if c.addresses else None)
            ship = c.address(c.default_shipping) or bill
            if bill is None:
                bill = ship = make_address(r, 0, c.id, store_country.get(store) or "US",
                                           first, last)
            cust_id: int | None = c.id
        else:
            website = 1 if r.random() < 0.6 else 2
            store = r.choice(stores_by_website[website])
            country = store_country[store] or r.choice(_BASE_COUNTRIES)
            first, last = _person(r, country)
            if all_emails and r.random() < 0.3:
                email = all_emails[r.randrange(len(all_emails))]  # a guest order by a member
            else:
                domain = _COUNTRIES[country]["domain"]
                email = f"{ascii_slug(first)}.{ascii_slug(last)}.g{oid}@{domain}"
            group = 0
            bill = make_address(r, 0, None, country, first, last)
            ship = bill if r.random() < 0.8 else make_address(r, 0, None, country, first, last)
            cust_id = None
        status = r.choices(ORDER_STATUSES, cum_weights=status_cum)[0]
        if o_at > anchor - 3 * DAY and r.random() < 0.5:
            status = "pending"
        upd = min(anchor, o_at + int(r.random() ** 3 * 14 * DAY)) if status != "pending" \
            else o_at
        seq = seq_by_store.get(store, 0) + 1
        seq_by_store[store] = seq
        o = Order(id=oid, seq=seq, customer_id=cust_id, email=email, firstname=first,
                  lastname=last, group_id=group, store_id=store, status=status,
                  created_at=o_at, updated_at=upd, seed=oseed, lines=None,
                  billing=bill, shipping=ship)
        shop.set_order_totals(o)
        orders.append(o)
    shop.orders.load_sorted(orders)
    shop.order_seq = seq_by_store
    shop.rebuild_order_index()

    # --- carts: active for a share of customers, some inactive (converted), some guests
    n_active = int(customers * active_carts + 0.5)
    chosen = r.sample(cust_list, min(n_active, len(cust_list))) if n_active else []
    cart_specs: list[tuple[int, Customer | None, bool]] = []
    for c in chosen:
        cart_specs.append((_when(r, max(c.created_at, anchor - 60 * DAY), anchor - 30), c, True))
    for c in r.sample(cust_list, min(len(cust_list), int(n_active * 0.6))):
        cart_specs.append((_when(r, max(c.created_at, anchor - 400 * DAY), anchor - 3600), c,
                           False))
    for _ in range(int(n_active * 0.1)):
        cart_specs.append((anchor - r.randrange(60, 20 * DAY), None, r.random() < 0.7))
    cart_specs.sort(key=lambda t: t[0])
    carts: list[Cart] = []
    next_item = 1
    for qid, (q_at, c, active) in enumerate(cart_specs, start=1):
        lines = []
        for _ in range(r.choices(_N_LINES, cum_weights=_N_LINES_CUM)[0]):
            p = catalog[r.randrange(len(catalog))]
            ptype = "configurable" if p.type == "configurable" else p.type
            sku = variant_of(p, next_item)[1] if p.children else p.sku
            lines.append((next_item, sku, p.name, p.price, float(r.choice([1, 1, 1, 2, 3])),
                          ptype))
            next_item += 1
        upd = min(anchor, q_at + int(r.random() ** 2 * 5 * DAY))
        if c is not None:
            store = c.store_id
            cust = (c.id, c.email, c.firstname, c.lastname, c.group_id)
        else:
            store = r.choice([1, 2, 3, 4])
            country = store_country[store] or "US"
            first, last = _person(r, country)
            cust = (None, f"{ascii_slug(first)}.{ascii_slug(last)}.q{qid}@example.org", first,
                    last, 0)
        carts.append(Cart(
            id=qid, customer_id=cust[0], email=cust[1], firstname=cust[2], lastname=cust[3],
            group_id=cust[4], store_id=store, is_active=active, lines=lines, created_at=q_at,
            updated_at=upd, converted_at=None if active else upd,
            reserved_order_id=None, billing=None,
        ))
    shop.carts.load_sorted(carts)
    shop.next_cart_item_id = next_item
    shop.rebuild_cart_index()
