"""Which members of a segment are held out: a pure function of the segment code and the
customer id.

A member is held out when the first 8 bytes of ``sha256("<code>:<customer_id>")``, read
as a big-endian unsigned integer and divided by 2**64, fall below the segment's share h.

Why this gives the same customers on every run, machine and database:

- SHA-256 is defined on bytes, and the bytes are fixed: the code as written in the segment
  file, a colon, the id in plain decimal digits (Python's ``str`` of an ``int``: no
  locale, no sign for ids ≥ 1, no padding), encoded as UTF-8.
- The 8 bytes are read big-endian by ``int.from_bytes(..., "big")``, explicitly, so the
  machine's own byte order plays no part.
- ``n / 2**64`` with two Python ints is correctly rounded to the nearest IEEE 754 double,
  the same on every platform Python runs on, and the comparison with h is exact.
- Nothing comes from the database, the process or a random generator: not Python's
  ``hash()`` (salted per process), not the order in which members are read, not a SQL
  function (SQLite has no SHA-256; PostgreSQL and MariaDB spell it differently). The
  database only says who the members are; Python decides the side.

The position ``n / 2**64`` does not depend on h, so raising h only adds held-out
customers and lowering it only returns some: a change of ``holdout`` moves only the
customers whose side changed. A customer who leaves and rejoins gets the same position,
hence the same side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MAX_SHARE = 0.5


def position(code: str, customer_id: int) -> float:
    """The customer's fixed place in [0, 1) for this segment; held out when below h."""
    if not isinstance(code, str):
        raise TypeError(f"a segment code is a string, not {code!r}")
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise TypeError(f"a customer id is an integer, not {customer_id!r}")
    digest = hashlib.sha256(f"{code}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_share(share: float) -> float:
    """The share as a float, or a ValueError saying what a holdout share may be."""
    if isinstance(share, bool) or not isinstance(share, int | float):
        raise ValueError(f"holdout must be a number from 0 to {MAX_SHARE}, not {share!r}")
    if not 0 <= share <= MAX_SHARE:
        raise ValueError(f"holdout must be a number from 0 to {MAX_SHARE}, not {share!r}")
    return float(share) + 0.0  # -0.0 (TOML "-0.0") is 0: no "-0 %" anywhere


def is_held_out(code: str, customer_id: int, share: float) -> bool:
    """True when this member of segment ``code`` is kept out of its push."""
    return position(code, customer_id) < check_share(share)


def held_out(code: str, customer_ids: Iterable[int], share: float) -> set[int]:
    """The held-out ones among ``customer_ids`` (order and repeats do not matter)."""
    h = check_share(share)
    if h == 0:
        return set()
    return {cid for cid in set(customer_ids) if position(code, cid) < h}
