"""Standard cron expressions (0 or 7 = Sunday) as APScheduler 3 triggers, in UTC.

APScheduler numbers weekdays from Monday = 0, unlike cron; numeric weekdays are
translated to names so that ``30 3 * * 0`` means Sunday as every admin expects.
"""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _translate_dow(field: str) -> str:
    def one(token: str) -> str:
        step = ""
        if "/" in token:
            token, step = token.split("/", 1)
            step = "/" + step
        if "-" in token:
            lo, hi = token.split("-", 1)
            return f"{_day(lo)}-{_day(hi)}{step}"
        return f"{_day(token)}{step}"

    return ",".join(one(t) for t in field.split(","))


def _day(token: str) -> str:
    if token.isdigit():
        n = int(token)
        if not 0 <= n <= 7:
            raise ValueError(f"day of week {n} is out of range (0-7)")
        return _DAYS[n]
    return token


def cron_trigger(expr: str) -> CronTrigger:
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"{expr!r} must have 5 fields (minute hour day month weekday)")
    minute, hour, day, month, dow = parts
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_translate_dow(dow),
        timezone="UTC",
    )


def validate_cron(expr: str) -> str | None:
    """None when ``expr`` is a valid cron expression, else what is wrong with it."""
    try:
        cron_trigger(expr)
    except (ValueError, TypeError) as exc:
        return f"{expr!r} is not a valid cron expression: {exc}"
    return None
