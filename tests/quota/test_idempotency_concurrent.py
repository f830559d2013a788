"""One request_id, many concurrent Reserves on a budget that fits it once: one reservation."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota, StartQuota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

BUDGET = 1_000
CALLS = 20


async def reserve_until_answered(quota: Quota, request: pb.ReserveRequest) -> str:
    """The reservation id, retrying while another call with the request_id is in progress."""
    for _ in range(50):
        try:
            response = await quota.stub.Reserve(request, metadata=quota.as_service())
            return response.reservation.reservation_id
        except grpc.aio.AioRpcError as error:
            info = unpack_detail(error, error_details_pb2.ErrorInfo)
            if error.code() != grpc.StatusCode.ABORTED or info is None:
                raise
            assert info.reason == "REQUEST_IN_PROGRESS"
            await asyncio.sleep(0.05)
    raise AssertionError("still in progress after 50 tries")


async def test_concurrent_retries_make_one_reservation_counted_once(
    start_quota: StartQuota,
) -> None:
    replicas = [await start_quota(), await start_quota()]
    await replicas[0].stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="tenant:tight", tier="custom", custom_limits=pb.Limits(compute_tokens=BUDGET)
        ),
        metadata=replicas[0].as_service("admin"),
    )
    request = pb.ReserveRequest(
        request_id="one-id",
        subject="tenant:tight",
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=BUDGET)],
    )

    ids = await asyncio.gather(
        *(reserve_until_answered(replicas[i % 2], request) for i in range(CALLS))
    )

    assert len(set(ids)) == 1
    pool = replicas[0].pool
    assert await pool.fetchval("SELECT count(*) FROM reservations") == 1
    reserved = await pool.fetchval(
        "SELECT reserved FROM usage WHERE subject = 'tenant:tight' AND unit = 'compute_tokens'"
    )
    assert reserved == BUDGET
    # The budget is spent: another request_id is refused, and a retry still gets the first.
    other = pb.ReserveRequest(
        request_id="another-id", subject=request.subject, items=list(request.items)
    )
    try:
        await replicas[1].stub.Reserve(other, metadata=replicas[1].as_service())
        raise AssertionError("a second reservation fit a budget already spent")
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await reserve_until_answered(replicas[1], request) == ids[0]
