"""Rate permits granted to holders (AcquireRatePermits / ReturnRatePermits): under any
concurrency, on two servers sharing one database, what is granted never passes a rule."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota, StartQuota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail


def _ask(subject: str, permits: int, method: str = "AnalyzeDream") -> pb.AcquireRatePermitsRequest:
    return pb.AcquireRatePermitsRequest(
        request_id=uuid.uuid4().hex,
        subject=subject,
        method=method,
        permits=permits,
        holder="replica",
    )


async def _rule(quota: Quota, max_requests: int, seconds: int, tier: str = "") -> None:
    limit = pb.RateLimit(
        method="AnalyzeDream",
        window=Duration(seconds=seconds),
        max_requests=max_requests,
        tier=tier,
    )
    await quota.stub.SetRateLimit(
        pb.SetRateLimitRequest(limit=limit), metadata=quota.as_service("admin")
    )


async def test_concurrent_holders_on_two_servers_never_pass_ten_a_minute(
    start_quota: StartQuota,
) -> None:
    first, second = await start_quota(), await start_quota()
    md = first.as_service("inference")
    asks = [
        (first if i % 2 else second).stub.AcquireRatePermits(_ask("wallet:0xa", 5), metadata=md)
        for i in range(40)
    ]
    answers = await asyncio.gather(*asks)

    granted = [a.grant.permits for a in answers if a.HasField("grant")]
    # Ten left of ten: one permit a grant, so no replica strands what another could use.
    assert granted == [1] * 10
    for refused in (a for a in answers if not a.HasField("grant")):
        assert refused.refused_by.max_requests == 10 and refused.refused_by.window.seconds == 60
        assert 0 < refused.retry_after.ToTimedelta().total_seconds() <= 60
    # The day window counted them too: after the minute, 90 are left of the hundred.
    first.clock.advance(seconds=61)
    again = await first.stub.AcquireRatePermits(_ask("wallet:0xa", 1), metadata=md)
    assert [(w.limit.window.seconds, w.remaining) for w in again.windows] == [
        (60, 9),
        (86400, 89),
    ]


async def test_large_limits_are_granted_in_shares_that_never_pass_them(
    start_quota: StartQuota,
) -> None:
    first, second = await start_quota(), await start_quota()
    await _rule(first, 1000, 60)
    md = first.as_service("storage")
    one = await first.stub.AcquireRatePermits(_ask("user:z", 500), metadata=md)
    # At most a tenth of what is left.
    assert one.grant.permits == 100
    assert one.windows[0].remaining == 900

    answers = await asyncio.gather(
        *(
            (first if i % 2 else second).stub.AcquireRatePermits(_ask("user:z", 500), metadata=md)
            for i in range(70)
        )
    )
    # The shares shrink with what is left (58 grants use up 900), ending one at a time: all
    # of the limit is granted, never more.
    shares = [a.grant.permits for a in answers if a.HasField("grant")]
    assert 100 + sum(shares) == 1000
    expected, left = [], 900
    while left:
        expected.append(max(1, left // 10))
        left -= expected[-1]
    assert sorted(shares, reverse=True) == expected
    assert len(expected) == 58 and expected[-9:] == [1] * 9


async def test_returned_permits_count_no_more_once(start_quota: StartQuota) -> None:
    quota = await start_quota()
    await _rule(quota, 100, 60)
    md = quota.as_service("inference")
    held = (await quota.stub.AcquireRatePermits(_ask("user:r", 10), metadata=md)).grant
    assert held.permits == 10
    before = await quota.stub.AcquireRatePermits(_ask("user:r", 1), metadata=md)
    assert before.windows[0].remaining == 89

    back = pb.ReturnRatePermitsRequest(grant_id=held.grant_id, unused=7)
    await quota.stub.ReturnRatePermits(back, metadata=md)
    # A second return (a retry) changes nothing.
    await quota.stub.ReturnRatePermits(back, metadata=md)
    after = await quota.stub.AcquireRatePermits(_ask("user:r", 1), metadata=md)
    assert after.windows[0].remaining == 95

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.ReturnRatePermits(back, metadata=quota.as_service("storage"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    unknown = pb.ReturnRatePermitsRequest(grant_id=str(uuid.uuid4()), unused=1)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.ReturnRatePermits(unknown, metadata=md)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "RATE_GRANT_NOT_FOUND"


async def test_a_retried_acquire_returns_the_first_grant(start_quota: StartQuota) -> None:
    quota = await start_quota()
    md = quota.as_service("inference")
    ask = _ask("user:i", 3)
    first = await quota.stub.AcquireRatePermits(ask, metadata=md)
    assert await quota.stub.AcquireRatePermits(ask, metadata=md) == first
    third = await quota.stub.AcquireRatePermits(_ask("user:i", 1), metadata=md)
    assert third.windows[0].remaining == 8


async def test_a_tiers_rule_applies_to_its_subjects_only(start_quota: StartQuota) -> None:
    quota = await start_quota()
    admin = quota.as_service("admin")
    await _rule(quota, 2, 60, tier="premium")
    await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(subject="user:p", tier="premium"), metadata=admin
    )
    md = quota.as_service("inference")
    for _ in range(2):
        assert (await quota.stub.AcquireRatePermits(_ask("user:p", 1), metadata=md)).grant.permits
    refused = await quota.stub.AcquireRatePermits(_ask("user:p", 1), metadata=md)
    assert not refused.HasField("grant") and refused.refused_by.tier == "premium"
    # A free subject keeps the defaults.
    free = await quota.stub.AcquireRatePermits(_ask("user:f", 1), metadata=md)
    assert [w.limit.max_requests for w in free.windows] == [10, 100]

    listed = await quota.stub.ListRateLimits(pb.ListRateLimitsRequest(), metadata=admin)
    assert [(r.method, r.tier) for r in listed.limits] == [("AnalyzeDream", "premium")]
    await quota.stub.DeleteRateLimit(
        pb.DeleteRateLimitRequest(
            method="AnalyzeDream", window=Duration(seconds=60), tier="premium"
        ),
        metadata=admin,
    )
    assert (await quota.stub.AcquireRatePermits(_ask("user:p", 1), metadata=md)).grant.permits


async def test_bad_asks_are_refused_with_their_fields(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.AcquireRatePermits(
            pb.AcquireRatePermitsRequest(request_id="r1", subject="", method="m", permits=0),
            metadata=quota.as_service("inference"),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert bad is not None
    assert {v.field for v in bad.field_violations} == {"subject", "permits"}
