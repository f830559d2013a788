"""Runs: a failed user is retried with backoff alone; misfires catch up the last period once;
pause and resume; inference unreachable still delivers, flagged degraded."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.scheduler.content import BatchData, Composer, MarketHours, Outcome
from services.scheduler.model import WorkItem
from services.scheduler.worker import Composing
from tests.scheduler.conftest import StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

EIGHT_UTC = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)


class FailingFor:
    """The production composer, except that one user's work raises `times` times."""

    def __init__(self, user_id: str, times: int) -> None:
        self.inner: Composing | None = None
        self.user_id, self.left = user_id, times

    async def load(self, items: Sequence[WorkItem], now: datetime) -> BatchData:
        assert self.inner is not None
        return await self.inner.load(items, now)

    async def compose(self, item: WorkItem, batch: BatchData, now: datetime) -> Outcome:
        assert self.inner is not None
        if item.user_id == self.user_id and self.left:
            self.left -= 1
            raise ConnectionResetError("portfolio store hiccup")
        return await self.inner.compose(item, batch, now)


async def _users(scheduler, receiver: WebhookReceiver, clock: ManualClock, count: int) -> None:
    for i in range(count):
        uid = f"u{i}"
        await add_user(scheduler, uid, "UTC", webhook_url=f"{receiver.url}/{uid}")
        await push_snapshot(scheduler, uid, clock.now, [("ACME", "1", 2_000_000, 1_000_000)])


async def test_failed_user_is_retried_alone_with_backoff(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    failing = FailingFor("u3", times=2)
    scheduler = await start_scheduler(composer=failing, SCHEDULER_BATCH_SIZE="4")
    failing.inner = _real_composer(scheduler)
    await _users(scheduler, receiver, clock, 10)
    clock.now = EIGHT_UTC
    await scheduler.tick()
    row = await _item(db, "u3")
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["available_at"] == datetime(2026, 3, 6, 8, 0, 30, tzinfo=UTC)
    clock.advance(seconds=30)
    await scheduler.tick()
    row = await _item(db, "u3")
    assert (row["state"], row["attempts"]) == ("pending", 2)
    assert row["available_at"] == datetime(2026, 3, 6, 8, 1, 30, tzinfo=UTC)  # 60 s later
    clock.advance(seconds=60)
    await scheduler.tick()
    attempts = {
        r["user_id"]: r["attempts"]
        for r in await db.fetch("SELECT user_id, attempts FROM work_items")
    }
    assert attempts == {f"u{i}": 3 if i == 3 else 1 for i in range(10)}
    [run] = (
        await scheduler.stub.ListRuns(pb.ListRunsRequest(), metadata=scheduler.as_service())
    ).runs
    assert (run.users_done, run.users_retried, run.state) == (10, 1, pb.RUN_STATE_SUCCEEDED)
    assert sorted(r.path for r in receiver.accepted()) == sorted(f"/u{i}" for i in range(10))


async def _item(db: asyncpg.Pool, user_id: str) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT state, attempts, available_at FROM work_items WHERE user_id = $1", user_id
    )
    assert row is not None
    return row


def _real_composer(scheduler) -> Composing:
    return Composer(scheduler.pool, None, MarketHours("America/New_York", 540, 960))


async def test_downtime_catches_up_the_last_period_once(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    scheduler = await start_scheduler()
    await _users(scheduler, receiver, clock, 2)
    clock.now = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # down for three digests
    await scheduler.tick()
    await scheduler.tick()
    runs = await db.fetch("SELECT job, period, trigger FROM runs ORDER BY id")
    assert [(r["job"], r["period"], r["trigger"]) for r in runs] == [
        ("daily_digest", "2026-03-09T08:00Z", "catch_up")
    ]
    assert len(receiver.accepted()) == 2


async def test_paused_periods_are_not_caught_up(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    scheduler = await start_scheduler()
    admin = scheduler.as_service("admin")
    await _users(scheduler, receiver, clock, 1)
    paused = await scheduler.stub.PauseJob(
        pb.PauseJobRequest(request_id="p", name="daily_digest"), metadata=admin
    )
    assert paused.job.paused
    clock.now = EIGHT_UTC
    await scheduler.tick()
    clock.advance(hours=1)
    await scheduler.stub.ResumeJob(
        pb.ResumeJobRequest(request_id="r", name="daily_digest"), metadata=admin
    )
    await scheduler.tick()
    assert await db.fetchval("SELECT count(*) FROM runs") == 0
    clock.advance(days=1)
    await scheduler.tick()
    assert [r["period"] for r in await db.fetch("SELECT period FROM runs")] == ["2026-03-07T08:00Z"]


async def test_unreachable_inference_still_delivers_flagged_degraded(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    scheduler = await start_scheduler(
        INFERENCE_ADDRESS=f"127.0.0.1:{dead}", INFERENCE_TIMEOUT_SECONDS="2"
    )
    await _users(scheduler, receiver, clock, 1)
    clock.now = EIGHT_UTC
    await scheduler.tick()
    [received] = receiver.accepted()
    assert received.body["degraded"] is True
    assert "Portfolio value: $2.00" in received.body["body"]
    assert "Today: +$1.00 (+100.00%)" in received.body["body"]
    assert "written summary is unavailable" in received.body["body"]
    [run] = (
        await scheduler.stub.ListRuns(pb.ListRunsRequest(), metadata=scheduler.as_service())
    ).runs
    assert run.degraded == 1 and run.users_done == 1
