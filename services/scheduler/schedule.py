"""Cron in a time zone (cronsim, DST-correct) and the local keys that name a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError


class BadSchedule(ValueError):
    """A cron expression or time zone that cannot be used."""


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or BadSchedule."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise BadSchedule(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    # A name too long for a file name raises OSError (ENAMETOOLONG): it is no zone either.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadSchedule(f"unknown time zone {name!r}") from None


def check_cron(expr: str) -> None:
    """Raise BadSchedule unless `expr` is a five-field cron expression that ever fires."""
    if len(expr.split()) != 5:
        raise BadSchedule("cron must have five fields: minute hour day month weekday")
    try:
        next(CronSim(expr, datetime(2026, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration) as error:
        raise BadSchedule(f"bad cron {expr!r}: {error}") from None


def latest_fire(expr: str, tz: str, now: datetime) -> datetime:
    """The last fire time at or before `now`, as an aware datetime in `tz`.

    cronsim runs a local time skipped by a DST jump at the end of the gap and an ambiguous one
    once (the first), as cron does.
    """
    local = now.astimezone(zone(tz)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return next(CronSim(expr, local, reverse=True))


def next_fire(expr: str, tz: str, now: datetime) -> datetime:
    """The first fire time after `now`, in `tz`."""
    return next(CronSim(expr, now.astimezone(zone(tz))))


def local_key(fire: datetime, tz: str) -> str:
    """The local wall-clock name of a fire time ('2026-03-08T08:00'), a user's period key."""
    return fire.astimezone(zone(tz)).strftime("%Y-%m-%dT%H:%M")


def utc_key(fire: datetime) -> str:
    """The UTC name of a fire time ('2026-03-08T13:00Z'), a run's period."""
    return fire.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
