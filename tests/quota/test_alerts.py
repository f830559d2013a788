"""80% and 100% alerts: exactly once per subject, unit and month, streamed to watchers."""

from __future__ import annotations

import asyncio

from tests.quota.conftest import Quota, StartQuota
from zerog.quota.v1 import quota_service_pb2 as pb


async def spend(quota: Quota, request_id: str, amount: int, subject: str = "user:carol") -> None:
    reserved = await quota.stub.Reserve(
        pb.ReserveRequest(
            request_id=request_id,
            subject=subject,
            items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=amount)],
        ),
        metadata=quota.as_service(),
    )
    await quota.stub.Commit(
        pb.CommitRequest(
            reservation_id=reserved.reservation.reservation_id,
            items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=amount)],
        ),
        metadata=quota.as_service(),
    )


async def collect(stream: object, count: int) -> list[pb.Alert]:
    alerts = []
    async for response in stream:  # type: ignore[attr-defined]
        alerts.append(response.alert)
        if len(alerts) == count:
            break
    return alerts


async def test_crossing_80_and_100_percent_raises_one_alert_each_per_month(
    start_quota: StartQuota,
) -> None:
    quota, other_replica = await start_quota(), await start_quota()
    await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="user:carol", tier="custom", custom_limits=pb.Limits(compute_tokens=1000)
        ),
        metadata=quota.as_service("admin"),
    )
    # A watcher on the other replica sees alerts raised here, as they happen.
    stream = other_replica.stub.WatchAlerts(
        pb.WatchAlertsRequest(subject="user:carol"), metadata=quota.as_service("scheduler")
    )
    watching = asyncio.create_task(collect(stream, 2))

    await spend(quota, "a", 700)  # 70%: nothing
    await spend(quota, "b", 100)  # 80%: warning
    await spend(quota, "c", 50)  # 85%: already warned
    await spend(other_replica, "d", 150)  # 100%: critical, on the other replica

    alerts = await asyncio.wait_for(watching, 10)
    stream.cancel()
    assert [(a.level, a.used, a.limit, a.period) for a in alerts] == [
        (pb.ALERT_LEVEL_WARNING, 800, 1000, "2026-11"),
        (pb.ALERT_LEVEL_CRITICAL, 1000, 1000, "2026-11"),
    ]
    assert await quota.pool.fetchval("SELECT count(*) FROM alerts WHERE unit='compute_tokens'") == 2

    # A new month resets token usage and may alert again, once.
    quota.clock.advance(days=8)
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:carol"), metadata=quota.as_service()
    )
    assert standing.period == "2026-12"
    assert {u.unit: u.used for u in standing.usages}[pb.UNIT_COMPUTE_TOKENS] == 0
    await spend(quota, "e", 900)
    await spend(quota, "f", 10)
    rows = await quota.pool.fetch(
        "SELECT period, level FROM alerts WHERE unit='compute_tokens' ORDER BY alert_id"
    )
    assert [(r["period"], r["level"]) for r in rows] == [
        ("2026-11", "warning"),
        ("2026-11", "critical"),
        ("2026-12", "warning"),
    ]


async def test_watch_resumes_after_an_alert_id(quota: Quota) -> None:
    await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="user:carol", tier="custom", custom_limits=pb.Limits(compute_tokens=100)
        ),
        metadata=quota.as_service("admin"),
    )
    await spend(quota, "a", 100)  # both levels at once
    stream = quota.stub.WatchAlerts(pb.WatchAlertsRequest(), metadata=quota.as_service())
    everything = await collect(stream, 2)
    stream.cancel()
    assert [a.level for a in everything] == [pb.ALERT_LEVEL_WARNING, pb.ALERT_LEVEL_CRITICAL]
    first = everything[0]
    rest = quota.stub.WatchAlerts(
        pb.WatchAlertsRequest(after_alert_id=first.alert_id), metadata=quota.as_service()
    )
    resumed = await collect(rest, 1)
    rest.cancel()
    assert resumed[0].alert_id == everything[1].alert_id
