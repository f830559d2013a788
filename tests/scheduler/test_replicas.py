"""Acceptance 2: two scheduler replicas on one database send every user one digest per day."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import asyncpg

from tests.scheduler.conftest import StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock

USERS = 120


async def test_two_replicas_one_digest_per_user_per_day(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    one = await start_scheduler(SCHEDULER_BATCH_SIZE="7", SCHEDULER_CONCURRENCY_LIMIT="3")
    two = await start_scheduler(SCHEDULER_BATCH_SIZE="7", SCHEDULER_CONCURRENCY_LIMIT="3")
    zones = ["UTC", "Asia/Tokyo", "America/Chicago"]
    for i in range(USERS):
        uid = f"u{i:03d}"
        await add_user(one, uid, zones[i % 3], webhook_url=f"{receiver.url}/{uid}")
        await push_snapshot(two, uid, clock.now, [("ACME", "1", 10_000_000, 9_000_000)])

    for _ in range(2 * 24):  # two days, both replicas ticking at the same moments
        clock.advance(hours=1)
        await asyncio.gather(one.tick(), two.tick())

    per_day = Counter(
        (r["user_id"], r["period_key"][:10])
        for r in await db.fetch("SELECT user_id, period_key FROM notifications")
    )
    assert len({user for user, _ in per_day}) == USERS
    assert set(per_day.values()) == {1}
    received = Counter(r.idempotency_key for r in receiver.accepted())
    assert len(received) == len(per_day) and set(received.values()) == {1}
    creators = {r["created_by"] for r in await db.fetch("SELECT created_by FROM runs")}
    assert creators <= {"replica-0", "replica-1"}
    # Both replicas did share the work: each claimed items of the same runs.
    assert one.server.loop.worker.concurrency.highest >= 1
    assert two.server.loop.worker.concurrency.highest >= 1
    assert await db.fetchval("SELECT max(max_concurrency) FROM runs") <= 3
    assert datetime(2026, 3, 8, 0, 0, tzinfo=UTC) == clock.now
