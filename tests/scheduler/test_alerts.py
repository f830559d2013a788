"""Acceptance 6: performance alerts fire only in market hours and only when the day change
crosses the user's threshold (not again every hour while it stays crossed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from tests.scheduler.conftest import Scheduler
from tests.scheduler.helpers import ALERT, add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

NEW_YORK = ZoneInfo("America/New_York")


def _ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=NEW_YORK)


async def _alerts(db: asyncpg.Pool) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT user_id, title, created_at FROM notifications WHERE kind = 'performance_alert'"
        " ORDER BY created_at"
    )


async def _price(scheduler: Scheduler, uid: str, at: datetime, price: int) -> None:
    # 100 shares; previous close $100.00, so each dollar is 1% (100 bps).
    await push_snapshot(scheduler, uid, at, [("ACME", "100", price, 100_000_000)])


async def test_alerts_only_in_market_hours_and_on_crossing(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock, db: asyncpg.Pool
) -> None:
    for uid in ("mover", "calm"):
        await add_user(
            scheduler,
            uid,
            "Asia/Tokyo",
            webhook_url=f"{receiver.url}/{uid}",
            enabled=[ALERT],
            threshold_bps=300,
        )
    clock.now = _ny(9, 7).astimezone(UTC)  # Monday 07:00 in New York
    await scheduler.tick()
    await _price(scheduler, "mover", _ny(9, 9, 30), 96_000_000)  # -4.00%
    await _price(scheduler, "calm", _ny(9, 9, 30), 101_000_000)  # +1.00%

    async def hour(price_mover: int | None = None) -> None:
        clock.advance(hours=1)
        if price_mover is not None:
            await _price(scheduler, "mover", clock.now - timedelta(minutes=30), price_mover)
        await scheduler.tick()

    await hour()  # 08:00: before the session
    await hour()  # 09:00: the snapshot is from 09:30, nothing of today yet
    assert await _alerts(db) == []
    await hour()  # 10:00: -4% crosses 3%
    [first] = await _alerts(db)
    assert first["user_id"] == "mover" and first["title"] == "Portfolio down 4.00% today"
    await hour()  # 11:00: still -4%: no repeat
    await hour(99_000_000)  # 12:00: back to -1%
    await hour(95_000_000)  # 13:00: -5%: crossed again
    await hour(110_000_000)  # 14:00: +10%: crossed the other way
    for _ in range(24 * 5 - 7):  # through 16:00 and the rest of the week
        await hour()
    titles = [(a["user_id"], a["title"]) for a in await _alerts(db)]
    assert titles == [
        ("mover", "Portfolio down 4.00% today"),
        ("mover", "Portfolio down 5.00% today"),
        ("mover", "Portfolio up 10.00% today"),
    ]
    runs = await db.fetch("SELECT scheduled_for FROM runs WHERE job = 'performance_alerts'")
    local = [r["scheduled_for"].astimezone(NEW_YORK) for r in runs]
    assert local and all(t.weekday() < 5 and 9 <= t.hour <= 16 and t.minute == 0 for t in local)
    assert len(local) == 5 * 8  # Monday to Friday, 09:00 to 16:00
    assert sorted(r.path for r in receiver.accepted()) == ["/mover"] * 3


async def test_triggered_alerts_outside_market_hours_send_nothing(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock, db: asyncpg.Pool
) -> None:
    await add_user(scheduler, "weekend", "UTC", webhook_url=receiver.url, enabled=[ALERT])
    clock.now = _ny(14, 11).astimezone(UTC)  # Saturday 11:00 in New York
    await _price(scheduler, "weekend", clock.now, 50_000_000)  # -50%
    trigger = await scheduler.stub.TriggerJob(
        pb.TriggerJobRequest(request_id="weekend", name="performance_alerts"),
        metadata=scheduler.as_service("admin"),
    )
    await scheduler.tick()
    run = await scheduler.stub.GetRun(
        pb.GetRunRequest(id=trigger.run.id), metadata=scheduler.as_service()
    )
    assert (run.run.users_total, run.run.users_skipped, run.run.users_done) == (1, 1, 0)
    reason = await db.fetchval("SELECT last_error FROM work_items")
    assert reason == "market closed"
    assert await _alerts(db) == [] and receiver.requests == []
