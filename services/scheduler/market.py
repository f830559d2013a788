"""Market hours in the exchange's time zone."""

from __future__ import annotations

from datetime import date, datetime

from services.scheduler.schedule import zone


def is_open(now: datetime, time_zone: str, open_minute: int, close_minute: int) -> bool:
    """Monday to Friday, from the open to the close inclusive, in the exchange's local time."""
    local = now.astimezone(zone(time_zone))
    minute = local.hour * 60 + local.minute
    return local.weekday() < 5 and open_minute <= minute <= close_minute


def trading_date(now: datetime, time_zone: str) -> date:
    """The exchange's local date."""
    return now.astimezone(zone(time_zone)).date()
