"""Who belongs to a period: a user is in it if they existed at their own local fire time. One who
joins while a run is still going is left out of it when their local fire time has passed, and
picked up later the same day when it has not (their zone's run is a separate, later run)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from tests.scheduler.conftest import Scheduler, StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.scheduler.test_runs import FailingFor, _real_composer
from tests.support import ManualClock


async def _join(scheduler: Scheduler, uid: str, tz: str, receiver: WebhookReceiver, now: datetime):
    await add_user(scheduler, uid, tz, webhook_url=f"{receiver.url}/{uid}")
    await push_snapshot(scheduler, uid, now, [("ACME", "1", 2_000_000, 1_000_000)])


async def _runs(db: asyncpg.Pool) -> list[tuple[str, list[str]]]:
    rows = await db.fetch(
        "SELECT r.period, array_remove(array_agg(w.user_id ORDER BY w.user_id), NULL) AS users"
        " FROM runs r LEFT JOIN work_items w ON w.run_id = r.id GROUP BY r.id ORDER BY r.id"
    )
    return [(r["period"], list(r["users"])) for r in rows]


async def test_joining_during_a_run_follows_the_users_own_fire_time(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    failing = FailingFor("early", times=1)  # keeps the 08:00 UTC run open for a retry
    clock.now = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # the jobs exist from here on
    scheduler = await start_scheduler(composer=failing)
    failing.inner = _real_composer(scheduler)
    await _join(scheduler, "early", "UTC", receiver, clock.now)
    clock.now = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
    await scheduler.tick()
    assert await db.fetchval("SELECT finished_at FROM runs") is None

    clock.advance(seconds=10)  # the run is still going
    await _join(scheduler, "late_utc", "UTC", receiver, clock.now)  # 08:00 passed locally
    await _join(scheduler, "late_ny", "America/New_York", receiver, clock.now)  # 03:00 locally
    clock.advance(seconds=20)
    await scheduler.tick()
    # The run finished with the users of its fire time only, and New York's fire time of the
    # day before (before anyone there joined) made no empty catch-up run.
    assert await _runs(db) == [("2026-03-06T08:00Z", ["early"])]
    assert await db.fetchval("SELECT finished_at FROM runs") is not None

    clock.now = datetime(2026, 3, 6, 13, 0, tzinfo=UTC)  # 08:00 in New York
    await scheduler.tick()
    clock.now = datetime(2026, 3, 7, 8, 0, tzinfo=UTC)
    await scheduler.tick()
    assert await _runs(db) == [
        ("2026-03-06T08:00Z", ["early"]),
        ("2026-03-06T13:00Z", ["late_ny"]),
        ("2026-03-07T08:00Z", ["early", "late_utc"]),
    ]
    assert sorted((r.path, r.body["period"]) for r in receiver.accepted()) == [
        ("/early", "2026-03-06T08:00"),
        ("/early", "2026-03-07T08:00"),
        ("/late_ny", "2026-03-06T08:00"),
        ("/late_utc", "2026-03-07T08:00"),
    ]
