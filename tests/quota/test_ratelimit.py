"""Rate limits per subject and method, shared by two real servers on one database."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from tests.quota.conftest import StartQuota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail


async def test_ten_a_minute_and_a_hundred_a_day_hold_across_two_servers(
    start_quota: StartQuota,
) -> None:
    first, second = await start_quota(), await start_quota()
    metadata = first.as_service("dream-app")
    check = pb.CheckRateLimitRequest(subject="wallet:0xabc", method="AnalyzeDream")

    allowed = 0
    for minute in range(11):
        for call in range(10):
            server = first if call % 2 == 0 else second
            try:
                await server.stub.CheckRateLimit(check, metadata=metadata)
                allowed += 1
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert allowed == 100, "only the daily limit may refuse within a minute's ten"
        if minute < 10:
            # The eleventh call of a minute is refused, on either server, with when to retry.
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await second.stub.CheckRateLimit(check, metadata=metadata)
            retry = unpack_detail(raised.value, error_details_pb2.RetryInfo)
            assert retry is not None
            if minute < 9:
                assert 0 < retry.retry_delay.seconds <= 60
            else:
                # The hundredth call also filled the day: wait for the day window, the longer one.
                assert 86_400 - 10 * 61 <= retry.retry_delay.seconds <= 86_400
            failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
            assert failure is not None and failure.violations[0].subject.startswith("wallet:0xabc")
        first.clock.advance(seconds=61)

    assert allowed == 100
    # A day after the first call, the window slides and calls are allowed again.
    first.clock.advance(hours=24)
    await first.stub.CheckRateLimit(check, metadata=metadata)


async def test_limits_are_per_subject_and_per_method(start_quota: StartQuota) -> None:
    quota = await start_quota()
    metadata = quota.as_service("dream-app")
    for _ in range(10):
        await quota.stub.CheckRateLimit(
            pb.CheckRateLimitRequest(subject="a", method="m"), metadata=metadata
        )
    await quota.stub.CheckRateLimit(
        pb.CheckRateLimitRequest(subject="b", method="m"), metadata=metadata
    )
    await quota.stub.CheckRateLimit(
        pb.CheckRateLimitRequest(subject="a", method="other"), metadata=metadata
    )


async def test_a_stored_rule_for_a_method_replaces_the_defaults(start_quota: StartQuota) -> None:
    quota = await start_quota()
    await quota.stub.SetRateLimit(
        pb.SetRateLimitRequest(
            limit=pb.RateLimit(method="Digest", window=Duration(seconds=3600), max_requests=2)
        ),
        metadata=quota.as_service("admin"),
    )
    metadata = quota.as_service("scheduler")
    request = pb.CheckRateLimitRequest(subject="user:z", method="Digest")
    response = await quota.stub.CheckRateLimit(request, metadata=metadata)
    assert [(w.limit.max_requests, w.remaining) for w in response.windows] == [(2, 1)]
    await quota.stub.CheckRateLimit(request, metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.CheckRateLimit(request, metadata=metadata)
    retry = unpack_detail(raised.value, error_details_pb2.RetryInfo)
    assert retry is not None and retry.retry_delay.seconds == 3600
    listed = await quota.stub.ListRateLimits(pb.ListRateLimitsRequest(), metadata=metadata)
    assert [r.method for r in listed.limits] == ["Digest"]
    assert [(d.max_requests, d.window.seconds) for d in listed.defaults] == [(10, 60), (100, 86400)]
