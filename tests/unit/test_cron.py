"""Cron expressions in baton.yml: crontab's weekday numbers (0 and 7 are Sunday) mean what crontab
means even though APScheduler 3 counts from Monday, seconds may come first, and a schedule that
cannot fire (bad expression, unknown zone, a name used twice) fails at load naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config.base import ConfigError
from bot.config.cron import cron_trigger, crontab_weekdays, latest_fire_time
from bot.config.models import parse_baton_file

SUNDAY = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "words"),
    [("1-5", "mon-fri"), ("0", "sun"), ("7", "sun"), ("0-2", "sun,mon-tue"), ("MON,3", "MON,wed"), ("*", "*")],
)
def test_crontab_weekday_numbers_become_day_names(field: str, words: str) -> None:
    assert crontab_weekdays(field) == words


def test_weekday_one_fires_on_monday_as_in_crontab() -> None:
    fire = cron_trigger("0 6 * * 1").get_next_fire_time(None, SUNDAY)
    assert fire == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert fire.strftime("%A") == "Monday"


def test_six_fields_put_seconds_first() -> None:
    trigger = cron_trigger("*/20 * * * * *")
    assert trigger.get_next_fire_time(None, SUNDAY + timedelta(seconds=1)) == SUNDAY + timedelta(seconds=20)


def test_the_expression_is_read_in_the_schedules_time_zone() -> None:
    fire = cron_trigger("0 6 * * *", "Europe/Berlin").get_next_fire_time(None, SUNDAY)
    assert fire.astimezone(UTC) == datetime(2026, 1, 5, 5, 0, tzinfo=UTC)


def test_the_latest_missed_firing_is_found_only_within_the_grace_time() -> None:
    daily = cron_trigger("0 6 * * *")
    monday_0630 = datetime(2026, 1, 5, 6, 30, tzinfo=UTC)
    assert latest_fire_time(daily, monday_0630, timedelta(hours=1)) == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert latest_fire_time(daily, monday_0630, timedelta(minutes=29)) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "0 6 * *"}, r"schedules\[weekly\]: a cron expression has 5 fields"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, r"schedules\[weekly\]: unknown time zone 'Mars/Olympus'"),
        ({"cron": "0 61 * * *"}, r"schedules\[weekly\]"),
    ],
)
def test_a_schedule_that_cannot_fire_fails_at_load(schedule: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_baton_file({"schedules": [{"name": "weekly", "request": "bump", **schedule}]})


def test_a_schedule_name_used_twice_fails_at_load() -> None:
    twice = [{"name": "weekly", "cron": "0 6 * * 1", "request": "bump"}] * 2
    with pytest.raises(ConfigError, match=r"schedules\[weekly\]\.name: 'weekly' is used twice"):
        parse_baton_file({"schedules": twice})
