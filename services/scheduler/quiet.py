"""Quiet hours: whether a moment falls in a user's quiet window and when that window ends."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from services.scheduler.model import QuietHours
from services.scheduler.schedule import zone


def quiet_until(now: datetime, time_zone: str, quiet: QuietHours | None) -> datetime | None:
    """The end of the quiet window `now` falls in (UTC), or None when delivery may go ahead.

    A window may cross midnight (22:00-07:00). An end time skipped by a DST jump resolves to the
    moment after the gap.
    """
    if quiet is None or quiet.start_minute == quiet.end_minute:
        return None
    tz = zone(time_zone)
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    start, end = quiet.start_minute, quiet.end_minute
    if start < end:
        inside, end_date = start <= minute < end, local.date()
    else:
        inside = minute >= start or minute < end
        end_date = local.date() if minute < end else local.date() + timedelta(days=1)
    if not inside:
        return None
    end_local = datetime.combine(end_date, time(end // 60, end % 60), tzinfo=tz)
    return end_local.astimezone(UTC)
