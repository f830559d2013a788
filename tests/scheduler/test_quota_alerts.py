"""Quota alerts (PRODUCT.md section 6) through the scheduler's channels: the real quota service's
WatchAlerts stream, each alert delivered once, across a quota restart and with two replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.quota.conftest import quota_db_url, quota_template  # noqa: F401  (fixtures)
from tests.scheduler.conftest import Scheduler, StartScheduler
from tests.scheduler.helpers import DIGEST, add_user
from tests.scheduler.quota import QuotaNode, eventually
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

QUOTA_ALERT = pb.NOTIFICATION_KIND_QUOTA_ALERT


@pytest.fixture
async def quota(quota_db_url: str, clock: ManualClock) -> AsyncIterator[QuotaNode]:  # noqa: F811
    """quota on the scheduler tests' clock (alerts fall in 2026-03)."""
    node = QuotaNode(quota_db_url, clock)
    await node.start()
    yield node
    await node.stop()


async def _start(start_scheduler: StartScheduler, quota: QuotaNode) -> Scheduler:
    return await start_scheduler(
        QUOTA_ADDRESS=quota.address,
        QUOTA_RECONNECT_BASE_SECONDS="0.05",
        QUOTA_RECONNECT_MAX_SECONDS="0.4",
    )


async def _stored(db: asyncpg.Pool, count: int) -> None:
    async def check() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM quota_alerts") == count)

    await eventually(check)


async def test_each_alert_is_delivered_once_across_a_quota_restart(
    start_scheduler: StartScheduler,
    quota: QuotaNode,
    receiver: WebhookReceiver,
    db: asyncpg.Pool,
) -> None:
    scheduler = await _start(start_scheduler, quota)
    await add_user(
        scheduler, "carol", "UTC", webhook_url=f"{receiver.url}/carol", enabled=[QUOTA_ALERT]
    )
    # dave wants digests only: his alert is stored and never sent.
    await add_user(scheduler, "dave", "UTC", webhook_url=f"{receiver.url}/dave", enabled=[DIGEST])
    for subject in ("user:carol", "user:dave", "tenant:acme"):
        await quota.set_token_limit(subject, 1000)

    await quota.spend("user:carol", "c1", 850)  # 85%: warning
    await quota.spend("user:dave", "d1", 900)
    await quota.spend("tenant:acme", "t1", 1000)  # warning and critical, not a user
    await _stored(db, 4)
    await scheduler.tick()
    [warning] = receiver.accepted()
    assert warning.path == "/carol"
    assert warning.body["type"] == "quota_alert"
    assert warning.body["title"] == "Quota warning: 85% of your monthly compute tokens used"
    assert "You have used 850 of 1,000 compute tokens (85%) in 2026-03." in warning.body["body"]
    assert warning.body["figures"]["level"] == "warning"
    outcomes = {
        (r["subject"], r["level"]): r["outcome"]
        for r in await db.fetch("SELECT subject, level, outcome FROM quota_alerts")
    }
    assert outcomes == {
        ("user:carol", "warning"): "notified",
        ("user:dave", "warning"): "notification disabled",
        ("tenant:acme", "warning"): "not a user subject",
        ("tenant:acme", "critical"): "not a user subject",
    }

    # quota goes away and comes back on the same address; the watch resumes after alert 4.
    await quota.stop()
    await quota.start()
    await quota.spend("user:carol", "c2", 150)  # 100%: critical
    await _stored(db, 5)
    await scheduler.tick()
    await scheduler.tick()
    accepted = receiver.accepted()
    assert [r.body["figures"]["level"] for r in accepted] == ["warning", "critical"]
    assert (
        accepted[1].body["title"]
        == "Quota reached: you have used all of your monthly compute tokens"
    )
    assert len({r.body["figures"]["alert_id"] for r in accepted}) == 2
    assert await db.fetchval("SELECT count(*) FROM notifications") == 2
    status = await scheduler.stub.GetSchedulerStatus(
        pb.GetSchedulerStatusRequest(), metadata=scheduler.as_service()
    )
    assert status.last_quota_alert_id == max(
        r["alert_id"] for r in await db.fetch("SELECT alert_id FROM quota_alerts")
    )


async def test_two_replicas_deliver_each_alert_once(
    start_scheduler: StartScheduler,
    quota: QuotaNode,
    receiver: WebhookReceiver,
    db: asyncpg.Pool,
) -> None:
    first, second = await _start(start_scheduler, quota), await _start(start_scheduler, quota)
    for i in range(5):
        await add_user(
            first, f"u{i}", "UTC", webhook_url=f"{receiver.url}/u{i}", enabled=[QUOTA_ALERT]
        )
        await quota.set_token_limit(f"user:u{i}", 100)
    # Both watch before anything is raised, so both receive every alert and race to store it.
    await eventually(lambda: _connected(first))
    await eventually(lambda: _connected(second))
    for i in range(5):
        await quota.spend(f"user:u{i}", f"a{i}", 80)
        await quota.spend(f"user:u{i}", f"b{i}", 20)
    await _stored(db, 10)
    await first.tick()
    await second.tick()
    accepted = receiver.accepted()
    assert sorted((r.path, r.body["figures"]["level"]) for r in accepted) == sorted(
        (f"/u{i}", level) for i in range(5) for level in ("warning", "critical")
    )
    assert len({r.idempotency_key for r in accepted}) == 10
    assert await db.fetchval("SELECT count(*) FROM notifications") == 10


async def _connected(scheduler: Scheduler) -> bool:
    status = await scheduler.stub.GetSchedulerStatus(
        pb.GetSchedulerStatusRequest(), metadata=scheduler.as_service()
    )
    return status.quota_alerts_connected
