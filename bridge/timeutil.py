"""UTC time helpers: every timestamp segbridge stores is naive UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_AGE = re.compile(r"^\s*(\d+)\s*d\s*$")

MAGENTO_FORMAT = "%Y-%m-%d %H:%M:%S"


def utcnow() -> datetime:
    """Now, as naive UTC with whole seconds (Magento's resolution)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def parse_age(text: str) -> timedelta:
    """``"30d"`` -> 30 days; anything else is a ValueError naming the accepted form."""
    m = _AGE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a relative age such as \"30d\"")
    return timedelta(days=int(m.group(1)))


# What a WHEN on the command line may name: the calendar's edges (year 1, 9999) end in
# overflows once a segment's ages and periods (up to 100000 days) are taken from it.
EARLIEST_WHEN = datetime(1970, 1, 1)
LATEST_WHEN = datetime(9000, 12, 31, 23, 59, 59)
WHEN_RANGE = f"{EARLIEST_WHEN:%Y-%m-%d} to {LATEST_WHEN:%Y-%m-%d}"


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or UTC date-time, or a relative age (``"30d"``), as naive UTC,
    between ``EARLIEST_WHEN`` and ``LATEST_WHEN`` (else a ValueError saying the range)."""
    outside = ValueError(f"{text!r} is outside the dates segbridge accepts ({WHEN_RANGE})")
    if isinstance(text, str) and _AGE.match(text):
        try:
            value = (now or utcnow()) - parse_age(text)
        except OverflowError:
            raise outside from None
    else:
        try:
            value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except (AttributeError, ValueError):
            raise ValueError(
                f"{text!r} is not an ISO 8601 date or date-time, nor a relative age such as "
                "\"30d\""
            ) from None
        if value.tzinfo is not None:
            try:
                value = value.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:
                raise outside from None
    if not EARLIEST_WHEN <= value <= LATEST_WHEN:
        raise outside
    return value


def parse_magento_time(text: str | None) -> datetime | None:
    """Magento's ``YYYY-MM-DD HH:MM:SS`` (UTC) to naive UTC; None stays None."""
    if text is None or text == "":
        return None
    return datetime.strptime(text[:19].replace("T", " "), MAGENTO_FORMAT)


def format_magento_time(value: datetime) -> str:
    return value.strftime(MAGENTO_FORMAT)


def parse_magento_date(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text[:10])
