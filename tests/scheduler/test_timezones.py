"""Acceptance 1: users in UTC+14, UTC-10 and DST-changing zones get the 08:00 digest at local
08:00, once a day, across the DST switch (spring forward and fall back)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.scheduler.conftest import Scheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock

ZONES = ["Pacific/Kiritimati", "Pacific/Honolulu", "America/New_York", "Europe/London"]


async def _simulate(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock, days: int
) -> dict[str, list[datetime]]:
    for tz in ZONES:
        uid = tz.replace("/", "_")
        await add_user(scheduler, uid, tz, webhook_url=f"{receiver.url}/{uid}")
        await push_snapshot(scheduler, uid, clock.now, [("ACME", "3", 50_000_000, 49_000_000)])
    # Tick every hour on the hour: a digest made at 07:00 or 09:00 would show up as such.
    for _ in range(days * 24):
        clock.advance(hours=1)
        await scheduler.tick()
    delivered: dict[str, list[datetime]] = defaultdict(list)
    rows = await scheduler.pool.fetch(
        "SELECT d.user_id, d.delivered_at FROM deliveries d WHERE d.state = 'sent'"
    )
    for row in rows:
        delivered[row["user_id"]].append(row["delivered_at"])
    return delivered


def _check(delivered: dict[str, list[datetime]], receiver: WebhookReceiver, days: int) -> None:
    for tz in ZONES:
        uid = tz.replace("/", "_")
        local = sorted(t.astimezone(ZoneInfo(tz)) for t in delivered[uid])
        assert [(t.hour, t.minute) for t in local] == [(8, 0)] * len(local), (tz, local)
        dates = [t.date() for t in local]
        assert len(dates) == len(set(dates)), f"{tz}: two digests on one day"
        # Every local day whose 08:00 fell inside the simulated window got its digest.
        assert len(dates) in (days - 1, days, days + 1), (tz, dates)
        assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(dates))
        received = [r for r in receiver.accepted() if r.path == f"/{uid}"]
        assert len(received) == len(local)


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 6, 0, 0, tzinfo=UTC),  # New York springs forward on Sunday 8 March
        datetime(2026, 10, 24, 0, 0, tzinfo=UTC),  # London 25 October, New York 1 November
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_digest_at_local_eight_once_a_day_across_dst(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock, start: datetime
) -> None:
    clock.now = start
    await scheduler.server.loop.planner.plan()  # nothing is due at midnight UTC yet
    days = 4 if start.month == 3 else 9
    delivered = await _simulate(scheduler, receiver, clock, days)
    _check(delivered, receiver, days)
    scheduled = await scheduler.pool.fetch(
        "SELECT r.scheduled_for, w.user_id FROM runs r JOIN work_items w ON w.run_id = r.id"
    )
    for row in scheduled:
        tz = ZoneInfo(next(z for z in ZONES if z.replace("/", "_") == row["user_id"]))
        assert row["scheduled_for"].astimezone(tz).strftime("%H:%M") == "08:00"
