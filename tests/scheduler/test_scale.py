"""Acceptance 3: a 10,000-user digest run stays within the concurrency limit (measured), reaches
no user twice, and a run killed halfway resumes on another replica without duplicates.

The outbox is checked (one delivery per user) rather than sent: 10,000 HTTP posts would cost
this test most of its time and prove nothing the delivery tests do not.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import asyncpg

from tests.scheduler.conftest import StartScheduler
from tests.scheduler.helpers import bulk_users
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

USERS = 10_000


async def _done(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM work_items WHERE state = 'done'"))


async def test_ten_thousand_users_killed_halfway_resume_without_duplicates(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    first = await start_scheduler(SCHEDULER_LEASE_SECONDS="60")
    ids = await bulk_users(db, USERS, "UTC", receiver.url, clock.now)
    clock.now = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)

    # Replica one starts the run and is killed (task cancelled, connections cut) halfway.
    await first.server.loop.planner.plan()
    ticking = asyncio.create_task(first.server.loop.worker.drain())
    for _ in range(6000):  # bounded: at most five minutes
        if await _done(db) >= USERS // 2:
            break
        await asyncio.sleep(0.05)
    ticking.cancel()
    await asyncio.gather(ticking, return_exceptions=True)
    first.pool.terminate()
    killed_at = await _done(db)
    assert USERS // 2 <= killed_at < USERS

    # Replica two takes over the items whose lease ran out.
    second = await start_scheduler()
    clock.advance(seconds=61)
    await second.server.loop.planner.plan()  # the period already has its run: no second one
    await second.server.loop.worker.drain()

    runs = await second.stub.ListRuns(pb.ListRunsRequest(), metadata=second.as_service())
    assert len(runs.runs) == 1
    run = runs.runs[0]
    assert run.state == pb.RUN_STATE_SUCCEEDED
    assert (run.users_total, run.users_done, run.users_failed) == (USERS, USERS, 0)
    assert 1 < run.max_concurrency_observed <= run.concurrency_limit == 10
    assert run.batch_size == 50

    per_user = Counter(r["user_id"] for r in await db.fetch("SELECT user_id FROM notifications"))
    assert set(per_user) == set(ids) and max(per_user.values()) == 1
    outbox = Counter(
        r["user_id"]
        for r in await db.fetch("SELECT user_id FROM deliveries WHERE channel = 'webhook'")
    )
    assert len(outbox) == USERS and max(outbox.values()) == 1
    assert first.server.loop.worker.concurrency.highest <= 10
    assert second.server.loop.worker.concurrency.highest <= 10
