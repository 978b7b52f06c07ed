"""Which Magento shop a store belongs to: recorded once, compared before every run.

A store holds one shop's customers, memberships, home groups and the ids of the objects
segbridge wrote there. Pointed at another shop (a copied config, a staging URL pasted
into production's config), a push would move that shop's customers by this shop's
memberships and switch back on the blocks and rules its merchant switched off. So the
first command that reaches Magento records three facts in ``shop_identity``:

- ``base_url``: ``magento.base_url`` as configured (only shown in messages);
- ``store_base_url``: the base URL the shop itself reports for its default store view
  (``GET /V1/store/storeConfigs``);
- ``websites``: its website codes (``GET /V1/store/websites``), sorted, comma-separated.

Every later command that talks to Magento compares first. The shop is the same when it
reports the same store base URL (scheme, letter case and a trailing slash aside: a move
to https is not a new shop) and still has every recorded website (a website added since
is recorded, not refused). Anything else stops the command before any write, exit 2, in
one line naming both shops (or, for the same store base URL, the website codes that are
gone); ``segbridge check --online --rebind`` records the new identity after a domain move
or a renamed website, once the rest of that check passed. A configured ``base_url`` that
changed while the shop answers as before (a new DNS name for the same shop) is recorded
without a word.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bridge.errors import ConfigError
from bridge.store.models import ShopIdentity
from bridge.timeutil import utcnow

log = logging.getLogger("bridge.identity")

STORE_CONFIGS = "/V1/store/storeConfigs"
REBIND = "segbridge check --online --rebind"


@dataclass(frozen=True)
class Identity:
    """The facts that tell one shop from another (see the module docstring)."""

    base_url: str
    store_base_url: str
    websites: tuple[str, ...]

    def rows(self) -> dict[str, str]:
        return {
            "base_url": self.base_url,
            "store_base_url": self.store_base_url,
            "websites": ",".join(self.websites),
        }

    def describe(self) -> str:
        """``http://shop.example/ (websites base, se)``, for one line of output."""
        return f"{shown_url(self.store_base_url)} (websites {', '.join(self.websites) or 'none'})"


class WrongShop(ConfigError):
    """The store belongs to another shop than the one ``magento.base_url`` reaches (exit 2)."""


def shown_url(url: str) -> str:
    """``url`` without a user or password, should one be in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an address that cannot be read)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return parts._replace(netloc=host).geturl()


def _place(url: str) -> str:
    """Host, port and path of a shop URL: what tells shops apart (not the scheme)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").casefold()
        port = parts.port
    except ValueError:
        return url.strip().casefold()
    default = {"http": 80, "https": 443}.get(parts.scheme.casefold())
    where = host if port is None or port == default else f"{host}:{port}"
    return where + parts.path.rstrip("/")


def read_identity(client: Any, base_url: str) -> Identity:
    """The identity the shop at ``base_url`` reports now (two GETs, nothing written)."""
    websites = client.websites()
    configs = client._get(STORE_CONFIGS)
    codes = sorted(
        {str(w.get("code")) for w in websites or [] if int(w.get("id") or 0) != 0 and w.get("code")}
    )
    views = [c for c in configs or [] if isinstance(c, dict) and int(c.get("id") or 0) != 0]
    default = next((c for c in views if c.get("code") == "default"), None)
    if default is None and views:
        default = min(views, key=lambda c: int(c.get("id") or 0))
    store_url = str((default or {}).get("base_url") or "")
    return Identity(base_url=base_url, store_base_url=store_url, websites=tuple(codes))


def recorded_identity(engine: Engine) -> Identity | None:
    """What this store recorded (None: nothing yet, or a store without the table)."""
    try:
        if not inspect(engine).has_table(ShopIdentity.__tablename__):
            return None
        with Session(engine) as s:
            rows = {r.key: r.value for r in s.scalars(select(ShopIdentity))}
    except SQLAlchemyError as exc:
        log.debug("shop identity not readable: %s", exc)
        return None
    if "store_base_url" not in rows:
        return None
    websites = tuple(w for w in rows.get("websites", "").split(",") if w)
    return Identity(rows.get("base_url", ""), rows["store_base_url"], websites)


def record_identity(engine: Engine, identity: Identity) -> None:
    """Replace the recorded identity with ``identity``, in one transaction."""
    now = utcnow()
    with Session(engine) as s, s.begin():
        s.execute(delete(ShopIdentity))
        s.add_all(
            ShopIdentity(key=k, value=v, recorded_at=now) for k, v in identity.rows().items()
        )


def same_shop(recorded: Identity, current: Identity) -> bool:
    """The same shop: same store base URL, and every recorded website still there."""
    if _place(recorded.store_base_url) != _place(current.store_base_url):
        return False
    return set(recorded.websites) <= set(current.websites)


def lost_websites(recorded: Identity, current: Identity) -> list[str]:
    """The recorded website codes the shop no longer has."""
    return sorted(set(recorded.websites) - set(current.websites))


def same_place(recorded: Identity, current: Identity) -> bool:
    """The same store base URL (scheme, letter case and a trailing slash aside)."""
    return _place(recorded.store_base_url) == _place(current.store_base_url)


def wrong_shop_line(recorded: Identity, current: Identity) -> str:
    """One line for a refused shop: a website gone from the same shop is said as such (a
    renamed or deleted website), anything else names both shops."""
    here = shown_url(current.base_url)
    if same_place(recorded, current):
        gone = lost_websites(recorded, current)
        return (
            f"magento.base_url {here} reaches the shop this store belongs to "
            f"({shown_url(current.store_base_url)}), but its website code(s) "
            f"{', '.join(gone)} are gone (websites now: {', '.join(current.websites) or 'none'});"
            " nothing was done. If a website was renamed or deleted on purpose, update the "
            f"segment files that name it and run `{REBIND}` to record the websites as they "
            "are now"
        )
    return (
        f"magento.base_url {here} reaches another shop than the one this store belongs to: "
        f"the store's shop answered as {recorded.describe()}, {here} answers as "
        f"{current.describe()}; nothing was done. Point store.url at this shop's own store "
        "(a store of another shop must be a new store); only if this is the same shop after "
        f"a domain move, run `{REBIND}`"
    )


def rebind_line(recorded: Identity | None, current: Identity) -> str:
    """What ``--rebind`` would record, from and to, said before it is recorded."""
    if recorded is None:
        return f"--rebind: this store has no shop yet; it will belong to {current.describe()}"
    if recorded.rows() == current.rows():
        return f"--rebind: this store already belongs to {current.describe()}"
    line = (f"--rebind: this store belongs to the shop at {recorded.describe()}; it is to be "
            f"rebound to the shop at {current.describe()}")
    gone, new = lost_websites(recorded, current), sorted(set(current.websites) -
                                                         set(recorded.websites))
    if not same_place(recorded, current) and (gone or new):
        line += (f". The websites differ too (gone: {', '.join(gone) or 'none'}; new: "
                 f"{', '.join(new) or 'none'}), which a domain move does not do: if this is "
                 "another shop, point store.url at a new store instead")
    return line


def verify_shop(engine: Engine, client: Any, config: Any, *, record: bool = True) -> Identity:
    """Compare the shop ``client`` reaches with the one this store belongs to.

    Raises ``WrongShop`` (exit 2) for another shop, before anything is written anywhere.
    ``record``: the first identity, or a same-shop change (a new website, a new
    configured ``base_url``), is written to the store; ``plan`` passes False.
    """
    current = read_identity(client, str(config.magento.base_url))
    recorded = recorded_identity(engine)
    if recorded is None:
        if record:
            record_identity(engine, current)
            log.info("this store now belongs to the shop at %s", current.describe())
        return current
    if not same_shop(recorded, current):
        raise WrongShop([wrong_shop_line(recorded, current)])
    if record and recorded.rows() != current.rows():
        record_identity(engine, current)
        log.info("shop identity updated (same shop): %s", current.describe())
    return current


def rebind(engine: Engine, client: Any, config: Any) -> tuple[Identity | None, Identity]:
    """Record the identity of the shop ``client`` reaches, whatever was recorded before;
    returns (the old one, the new one)."""
    current = read_identity(client, str(config.magento.base_url))
    old = recorded_identity(engine)
    record_identity(engine, current)
    return old, current


def verify_configured_shop(engine: Engine, config: Any) -> None:
    """``verify_shop`` with a read-only client of its own (for ``segbridge sync``)."""
    from bridge.magento.client import MagentoClient

    with MagentoClient(config.magento, read_only=True) as client:
        verify_shop(engine, client, config)
