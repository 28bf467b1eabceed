"""Cron expressions as `baton.yml` writes them, turned into APScheduler 3 triggers.

Five fields are standard crontab (`minute hour day month weekday`); six put seconds first
(`second minute hour day month weekday`). Weekday numbers follow crontab (0 and 7 are Sunday):
APScheduler 3 counts from Monday, so numbers are translated to day names before it sees them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_DAYS = re.compile(r"^([0-7])(?:-([0-7]))?(/\d+)?$")


def _weekday_part(part: str) -> str:
    match = _NUMERIC_DAYS.match(part)
    if match is None:
        return part
    first, last, step = int(match.group(1)), match.group(2), match.group(3) or ""
    if last is None:
        return _DAYS[first] + step
    end = int(last)
    if first == 0 and end > 0 and not step:  # Sunday first: APScheduler's week ends on Sunday
        return "sun" if end == 7 else f"sun,mon-{_DAYS[end]}"
    return f"{_DAYS[first]}-{_DAYS[end]}{step}"


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field in APScheduler 3's words (`1-5` → `mon-fri`, `0` → `sun`)."""
    return ",".join(_weekday_part(p) for p in field.split(","))


def cron_trigger(expression: str, timezone: str = "UTC") -> CronTrigger:
    """The trigger for `expression` in `timezone`; ValueError says what is wrong with either."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{timezone}'") from None
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (or 6 with seconds first), got {len(fields)}")
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields[-5:]
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(weekday),
        timezone=zone,
    )


def latest_fire_time(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The last time `trigger` fired at or before `now`, if it is no older than `within`."""
    found: datetime | None = None
    candidate = trigger.get_next_fire_time(None, now - within)
    while candidate is not None and candidate <= now:
        found = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return found
