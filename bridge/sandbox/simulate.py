"""Play the sandbox shop's time forward: registered customers place orders day by day.

The point is a ground truth for ``segbridge lift``: customers whose current customer group
is one that a segment pushes (the group with the block or the cart rule) buy more often,
by a planted share, than everyone else. Each day each registered customer places an order
with probability ``base_rate``, times ``1 + uplift`` when their group is named in
``uplift``. The days of a customer's orders are drawn as the gaps between successes of
those daily trials (geometric gaps): the same distribution as one coin per customer per
day, at one draw per order instead of one per customer-day.

The orders are what the generator makes (items derived from a per-order seed, the
customer's addresses, a store view of their website, the generator's status mix, totals),
created within the played days and ids growing with creation time, so the sync and the
rest of segbridge take them as any other. The shop's clock moves forward by the days
played. segbridge's sync reads no further than its own clock, so the days are played only
up to the real time: a shop meant to be played forward is started that many days back
(``SandboxServer(simulate_days=N)``, ``segbridge sandbox --simulate-days N``).

Deterministic: the same shop, arguments and seed give the same orders. The draws also
depend on how many days the shop has already played, so playing a month one day at a
time does not repeat one day thirty times.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.sandbox.generator import _STATUS_WEIGHTS, DAY, ORDER_STATUSES, make_address
from bridge.sandbox.model import Order, fmt_time

if TYPE_CHECKING:
    from bridge.sandbox.model import Customer
    from bridge.sandbox.shop import Shop

# About 3 % of customers buy in a 30-day month: a shop's usual monthly conversion.
DEFAULT_BASE_RATE = 0.001
MAX_DAYS = 3660
_STATUS_CUM = tuple(itertools.accumulate(_STATUS_WEIGHTS))


class SimulationError(ValueError):
    """The simulation cannot run as asked; the message says which argument and why."""


@dataclass(frozen=True)
class PlannedOrder:
    """One order the simulation will place (before it has an id)."""

    created_at: int
    customer_id: int
    store_id: int
    status: str
    updated_at: int
    seed: int


@dataclass
class GroupFigures:
    """What one customer group did over the played days."""

    code: str
    daily_rate: float
    customers: int = 0
    buyers: int = 0
    orders: int = 0

    @property
    def conversion(self) -> float | None:
        return self.buyers / self.customers if self.customers else None


@dataclass
class Simulation:
    """The orders planned (or placed) for ``days`` days from ``start`` to ``end``."""

    days: int
    start: int
    end: int
    base_rate: float
    uplift: dict[str, float]
    seed: int
    orders: list[PlannedOrder]
    groups: dict[int, GroupFigures] = field(default_factory=dict)
    order_ids: tuple[int, int] | None = None  # first and last id, once placed
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON answer of the control route."""
        return {
            "days": self.days, "from": fmt_time(self.start), "to": fmt_time(self.end),
            "base_rate": self.base_rate, "uplift": self.uplift, "seed": self.seed,
            "orders": len(self.orders),
            "first_order_id": self.order_ids[0] if self.order_ids else None,
            "last_order_id": self.order_ids[1] if self.order_ids else None,
            "seconds": round(self.seconds, 3),
            "groups": [
                {"id": gid, "code": g.code, "daily_rate": g.daily_rate,
                 "customers": g.customers, "buyers": g.buyers, "orders": g.orders,
                 "conversion": g.conversion}
                for gid, g in sorted(self.groups.items())
            ],
        }

    def lines(self) -> list[str]:
        """The figures in sentences and a small table, for people."""
        out = [f"Played {self.days} day(s), {fmt_time(self.start)} to {fmt_time(self.end)} "
               f"UTC: {len(self.orders)} orders in {self.seconds:.2f}s (seed {self.seed})."]
        out.append(f"  {'group':<24} {'daily rate':>10} {'customers':>9} {'buyers':>7} "
                   f"{'conversion':>10}")
        for g in sorted(self.groups.values(), key=lambda g: g.code.casefold()):
            if not g.customers:
                continue
            conv = f"{g.conversion * 100:.2f} %" if g.conversion is not None else "-"
            out.append(f"  {g.code[:24]:<24} {g.daily_rate:>10.5f} {g.customers:>9} "
                       f"{g.buyers:>7} {conv:>10}")
        return out


# --- arguments ---------------------------------------------------------------------------


def check_days(days: Any) -> int:
    if isinstance(days, bool) or not isinstance(days, int):
        raise SimulationError(f"days must be a whole number of days, not {days!r}")
    if not 1 <= days <= MAX_DAYS:
        raise SimulationError(f"days must be from 1 to {MAX_DAYS}, not {days}")
    return days


def check_uplift(uplift: Any) -> dict[str, float]:
    """``{group code: share}``; a share is a number of at least -1 (-1: never buys)."""
    if uplift is None:
        return {}
    if not isinstance(uplift, Mapping):
        raise SimulationError(
            f"uplift must map customer group codes to shares, like {{\"VIP\": 0.2}}, "
            f"not {uplift!r}")
    out: dict[str, float] = {}
    for code, share in uplift.items():
        if not isinstance(code, str) or not code.strip():
            raise SimulationError(f"uplift: {code!r} is not a customer group code")
        if isinstance(share, bool) or not isinstance(share, int | float) \
                or not math.isfinite(share) or share < -1:
            raise SimulationError(
                f"uplift of group {code!r}: a share of at least -1 such as 0.2 (20 % more "
                f"orders), not {share!r}")
        out[code] = float(share)
    return out


def check_base_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise SimulationError(
            f"base_rate is a customer's chance to order on a day, above 0 and at most 1, "
            f"not {rate!r}")
    return float(rate)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SimulationError(f"seed must be a whole number, not {seed!r}")
    return seed


def days_arg(text: str) -> int:
    """argparse type of ``--simulate-days N``."""
    try:
        return check_days(int(text))
    except (ValueError, SimulationError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of days from 1 to {MAX_DAYS}") from None


def uplift_arg(text: str) -> tuple[str, float]:
    """argparse type of ``--uplift GROUP=SHARE`` (``VIP=0.2``)."""
    code, sep, share = text.rpartition("=")
    try:
        value = float(share)
    except ValueError:
        value = math.nan
    if not sep or not code.strip() or not math.isfinite(value) or value < -1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not GROUP=SHARE, a customer group code and a share of at least -1, "
            "such as VIP=0.2 (20 % more orders)")
    return code.strip(), value


def _group_rates(shop: Shop, uplift: dict[str, float], base_rate: float
                 ) -> dict[int, GroupFigures]:
    """Each group's daily rate; an unknown code or a rate above 1 is refused."""
    by_code = {g.code.casefold(): g for g in shop.groups.values()}
    boosted: dict[int, float] = {}
    for code, share in uplift.items():
        g = by_code.get(code.casefold())
        if g is None:
            known = ", ".join(sorted(g.code for g in shop.groups.values()))
            raise SimulationError(
                f"uplift names customer group {code!r}, which the shop does not have "
                f"(its groups: {known})")
        rate = base_rate * (1 + share)
        if rate > 1:
            raise SimulationError(
                f"uplift of group {code!r}: base_rate {base_rate} × (1 + {share}) = {rate:.3g}, "
                "more than one order a day")
        boosted[g.id] = rate
    return {g.id: GroupFigures(g.code, boosted.get(g.id, base_rate))
            for g in shop.groups.values()}


# --- the draws ---------------------------------------------------------------------------


def _order_days(r: random.Random, rate: float, days: int) -> list[int]:
    """The days (0-based) on which a customer with this daily rate orders."""
    if rate <= 0:
        return []
    if rate >= 1:
        return list(range(days))
    log_miss = math.log1p(-rate)
    out = []
    day = -1
    while True:
        # failures before the next success of a daily trial: floor(ln U / ln(1 - rate))
        day += 1 + int(math.log(1.0 - r.random()) / log_miss)
        if day >= days:
            return out
        out.append(day)


def _stores_by_website(shop: Shop) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for s in shop.stores:
        if s.id and s.is_active:
            out.setdefault(s.website_id, []).append(s.id)
    return out


def plan(shop: Shop, days: int, uplift: Mapping[str, float] | None = None,
         base_rate: float = DEFAULT_BASE_RATE, seed: int = 1) -> Simulation:
    """The orders ``days`` days of the shop would bring, without placing them.

    Reads the shop (under its lock) and changes nothing: a test may draw many seeds from
    one generated shop.
    """
    days = check_days(days)
    ups = check_uplift(uplift)
    base_rate = check_base_rate(base_rate)
    seed = check_seed(seed)
    with shop.lock:
        groups = _group_rates(shop, ups, base_rate)
        start = shop.now()
        end = start + days * DAY
        played = getattr(shop, "simulated_days", 0)
        r_days = random.Random(f"segbridge-simulate:{seed}:{played}:days")
        r_orders = random.Random(f"segbridge-simulate:{seed}:{played}:orders")
        stores = _stores_by_website(shop)
        rows = shop.customers.rows
        picked: list[tuple[int, int]] = []  # (created_at, customer id)
        for cid in shop.customers.ids:
            c = rows[cid]
            g = groups.get(c.group_id)
            if g is None:  # a group deleted under the customer: the plain rate
                g = groups[c.group_id] = GroupFigures(str(c.group_id), base_rate)
            g.customers += 1
            when = _order_days(r_days, g.daily_rate, days)
            if when:
                g.buyers += 1
                g.orders += len(when)
                for d in when:
                    picked.append((start + d * DAY + 1 + r_days.randrange(DAY), cid))
        picked.sort()
        orders = []
        for created, cid in picked:
            c = rows[cid]
            store = c.store_id
            if r_orders.random() >= 0.9:  # as the generator: a tenth in another store view
                store = r_orders.choice(stores.get(c.website_id) or [c.store_id])
            status = r_orders.choices(ORDER_STATUSES, cum_weights=_STATUS_CUM)[0]
            if created > end - 3 * DAY and r_orders.random() < 0.5:
                status = "pending"  # the last days' orders are mostly not handled yet
            updated = created if status == "pending" else min(
                end, created + int(r_orders.random() ** 3 * 14 * DAY))
            orders.append(PlannedOrder(min(created, end), cid, store, status, updated,
                                       r_orders.getrandbits(48)))
    return Simulation(days, start, end, base_rate, ups, seed, orders, groups)


def _place(shop: Shop, p: PlannedOrder, oid: int, fallback: random.Random) -> Order:
    c: Customer = shop.customers.rows[p.customer_id]
    bill = c.address(c.default_billing) or (c.addresses[0] if c.addresses else None)
    ship = c.address(c.default_shipping) or bill
    if bill is None:  # no address book: an address made for the order, as the generator
        code = shop.store(p.store_id).code
        country = code.upper() if len(code) == 2 else "US"
        bill = ship = make_address(fallback, 0, c.id, country, c.firstname, c.lastname)
    seq = shop.order_seq.get(p.store_id, 0) + 1
    shop.order_seq[p.store_id] = seq
    o = Order(id=oid, seq=seq, customer_id=c.id, email=c.email, firstname=c.firstname,
              lastname=c.lastname, group_id=c.group_id, store_id=p.store_id,
              status=p.status, created_at=p.created_at, updated_at=p.updated_at,
              seed=p.seed, lines=None, billing=bill, shipping=ship)
    shop.set_order_totals(o)
    return o


def simulate_days(shop: Shop, days: int, uplift: Mapping[str, float] | None = None,
                  base_rate: float = DEFAULT_BASE_RATE, seed: int = 1,
                  allow_future: bool = False) -> Simulation:
    """Place ``days`` days of orders and move the shop's clock past them.

    All under the shop's lock: a sync sees none of the new orders or all of them.
    ``allow_future``: play past the real clock (segbridge's sync would not see those
    orders until the real time reaches them; for tests of the sandbox itself).
    """
    t0 = time.perf_counter()
    with shop.lock:
        sim = plan(shop, days, uplift, base_rate, seed)
        real = int(time.time())
        if sim.end > real and not allow_future:
            behind = max(0, real - sim.start) // DAY
            raise SimulationError(
                f"{sim.days} day(s) from the shop's now ({fmt_time(sim.start)} UTC) would "
                f"end after the real time, and segbridge's sync reads no order newer than "
                f"its own clock; the shop can play {behind} day(s). Start the sandbox that "
                "many days back: SandboxServer(simulate_days=N), segbridge sandbox "
                "--simulate-days N")
        fallback = random.Random(f"segbridge-simulate:{seed}:{sim.start}:addresses")
        first = shop.orders.next_id()
        for k, p in enumerate(sim.orders):
            o = _place(shop, p, first + k, fallback)
            shop.orders.add(o)
            shop.orders_by_customer.setdefault(p.customer_id, []).append(o.id)
        if sim.orders:
            sim.order_ids = (first, first + len(sim.orders) - 1)
        shop.simulated_days = getattr(shop, "simulated_days", 0) + sim.days
        shop.clock.advance(sim.end - sim.start)
    sim.seconds = time.perf_counter() - t0
    return sim


def control_route(shop: Shop, body: Any, uplift: Mapping[str, float]) -> tuple[int, Any]:
    """``POST /__sandbox/simulate`` {"days", "uplift", "base_rate", "seed"}, each optional
    (days: as many as the shop's clock is behind the real one; uplift: the server's, from
    ``SandboxServer(uplift=...)``; seed: the shop's): (status, JSON answer)."""
    args = {} if body is None else body
    allowed = {"days", "uplift", "base_rate", "seed"}
    if not isinstance(args, dict) or set(args) - allowed:
        return 400, {"message": "simulate takes a JSON object with days, uplift, base_rate "
                                "and seed, each optional"}
    days = args["days"] if "days" in args else days_behind(shop)
    if days == 0 and "days" not in args:
        return 400, {"message": "the shop's clock is not a whole day behind the real time: "
                                "nothing to play (start the sandbox some days back)"}
    try:
        done = simulate_days(shop, days, args.get("uplift", uplift),
                             args.get("base_rate", DEFAULT_BASE_RATE),
                             args.get("seed", shop.seed))
    except SimulationError as e:
        return 400, {"message": str(e)}
    return 200, {**done.summary(), "now": shop.clock.now_text()}


def days_back(now: Any, days: int) -> int:
    """The start of a shop clock ``days`` days before ``now`` (None: the real time; else
    what ``Shop(now=...)`` takes: epoch seconds, a datetime or a UTC date-time string)."""
    from datetime import UTC, datetime

    from bridge.sandbox.model import parse_time

    days = check_days(days)
    if now is None:
        base = int(time.time())
    elif isinstance(now, datetime):
        base = int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp())
    else:
        parsed = parse_time(now)
        if parsed is None:
            raise SimulationError(f"now={now!r} is not a date-time")
        base = parsed
    return base - days * DAY


def days_behind(shop: Shop) -> int:
    """Whole days the shop's clock is behind the real one: what it can still play."""
    return max(0, int(time.time()) - shop.now()) // DAY


__all__ = ["DEFAULT_BASE_RATE", "PlannedOrder", "Simulation", "SimulationError", "check_uplift",
           "control_route", "days_arg", "days_back", "days_behind", "plan", "simulate_days",
           "uplift_arg"]
