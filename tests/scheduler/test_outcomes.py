"""A user failing every attempt leaves the run partially failed with the error recorded and the
others delivered; the weekly summary's figures over the week's snapshots, exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from tests.scheduler.conftest import Scheduler, StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot, stamp
from tests.scheduler.receiver import WebhookReceiver
from tests.scheduler.test_runs import FailingFor, _real_composer, _users
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

EIGHT_UTC = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
WEEKLY = pb.NOTIFICATION_KIND_WEEKLY_SUMMARY


async def test_all_retries_used_fails_the_user_alone(
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    failing = FailingFor("u1", times=100)
    scheduler = await start_scheduler(composer=failing, SCHEDULER_MAX_ATTEMPTS="3")
    failing.inner = _real_composer(scheduler)
    await _users(scheduler, receiver, clock, 3)
    clock.now = EIGHT_UTC
    for wait in (0, 30, 60):  # the first attempt, then retries 30 s and 60 s later
        clock.advance(seconds=wait)
        await scheduler.tick()
    row = await db.fetchrow(
        "SELECT state, attempts, last_error, finished_at FROM work_items WHERE user_id = 'u1'"
    )
    assert row is not None
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "ConnectionResetError: portfolio store hiccup"
    assert row["finished_at"] == clock.now
    clock.advance(hours=1)
    await scheduler.tick()  # nothing is retried after the last attempt
    assert await db.fetchval("SELECT attempts FROM work_items WHERE user_id = 'u1'") == 3
    [run] = (
        await scheduler.stub.ListRuns(pb.ListRunsRequest(), metadata=scheduler.as_service())
    ).runs
    assert run.state == pb.RUN_STATE_PARTIALLY_FAILED
    assert (run.users_total, run.users_done, run.users_failed) == (3, 2, 1)
    assert run.HasField("finished_at")
    assert sorted(r.path for r in receiver.accepted()) == ["/u0", "/u2"]
    notified = await db.fetch("SELECT user_id FROM notifications ORDER BY user_id")
    assert [r["user_id"] for r in notified] == ["u0", "u2"]


async def _news(scheduler: Scheduler) -> None:
    items = [
        ("fresh", ["ACME"], "ACME beats estimates", datetime(2026, 3, 5, 12, tzinfo=UTC)),
        ("stale", ["ACME"], "ACME old story", datetime(2026, 2, 25, 12, tzinfo=UTC)),
        ("other", ["ZZZ"], "ZZZ news", datetime(2026, 3, 6, 12, tzinfo=UTC)),
    ]
    await scheduler.stub.PushNewsItems(
        pb.PushNewsItemsRequest(
            request_id="news",
            items=[
                pb.NewsItem(
                    id=i, symbols=s, headline=h, url=f"https://news.test/{i}", published_at=stamp(t)
                )
                for i, s, h, t in items
            ],
        ),
        metadata=scheduler.as_service(),
    )


async def test_weekly_summary_figures_over_the_weeks_snapshots(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    await add_user(scheduler, "wk", "UTC", webhook_url=f"{receiver.url}/wk", enabled=[WEEKLY])
    cash = 50_000_000
    week = [
        # Older than a week: ignored.
        (datetime(2026, 3, 1, 6, tzinfo=UTC), [("ACME", "10", 90_000_000, 0)]),
        # The newest snapshot at or before Monday 07:00 a week ago: the baseline, $1,250.00.
        (
            datetime(2026, 3, 2, 6, tzinfo=UTC),
            [("ACME", "10", 100_000_000, 0), ("BETA", "5", 40_000_000, 0)],
        ),
        # Mid-week: ignored.
        (datetime(2026, 3, 4, 15, tzinfo=UTC), [("ACME", "10", 150_000_000, 0)]),
        # The latest: $1,380.00; NEWCO bought during the week.
        (
            datetime(2026, 3, 8, 20, tzinfo=UTC),
            [
                ("ACME", "10", 110_000_000, 108_000_000),
                ("BETA", "5", 36_000_000, 36_500_000),
                ("NEWCO", "2", 25_000_000, 24_000_000),
            ],
        ),
    ]
    for as_of, positions in week:
        await push_snapshot(scheduler, "wk", as_of, positions, cash=cash)
    await _news(scheduler)
    clock.now = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # Monday 07:00
    await scheduler.tick()
    [received] = receiver.accepted()
    assert received.body["type"] == "weekly_summary"
    assert received.body["title"] == "Your weekly summary"
    assert received.body["body"] == "\n".join(
        [
            "Portfolio value: $1,380.00",
            "This week: +$130.00 (+10.40%)",
            "Top movers: ACME +$100.00 (+10.00%), NEWCO +$50.00 (+0.00%), BETA -$20.00 (-10.00%)",
            "News:",
            "- ACME beats estimates (https://news.test/fresh)",
        ]
    )
    assert received.body["figures"] == {
        "value_micro_usd": 1_380_000_000,
        "change_micro_usd": 130_000_000,
        "change_bps": 1040,
        "top_movers": [
            {"symbol": "ACME", "change_micro_usd": 100_000_000, "change_bps": 1000},
            {"symbol": "NEWCO", "change_micro_usd": 50_000_000, "change_bps": 0},
            {"symbol": "BETA", "change_micro_usd": -20_000_000, "change_bps": -1000},
        ],
        "news_ids": ["fresh"],
    }
