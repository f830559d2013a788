"""ReleaseUsage: stored bytes given back once per request_id, never below zero, storage only."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

BYTES = pb.UNIT_STORAGE_BYTES


async def _store(quota: Quota, subject: str, amount: int) -> None:
    """Commit `amount` stored bytes for `subject`, as storage does after an upload."""
    item = pb.UsageItem(unit=BYTES, amount=amount)
    reserved = await quota.stub.Reserve(
        pb.ReserveRequest(request_id=f"put-{subject}", subject=subject, items=[item]),
        metadata=quota.as_service("storage"),
    )
    await quota.stub.Commit(
        pb.CommitRequest(reservation_id=reserved.reservation.reservation_id, items=[item]),
        metadata=quota.as_service("storage"),
    )


async def _used(quota: Quota, subject: str) -> int:
    got = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject=subject), metadata=quota.as_service()
    )
    return next(u.used for u in got.usages if u.unit == BYTES)


async def _release(
    quota: Quota, request_id: str, subject: str, amount: int, service: str = "storage"
) -> list[tuple[int, int]]:
    response = await quota.stub.ReleaseUsage(
        pb.ReleaseUsageRequest(
            request_id=request_id,
            subject=subject,
            items=[pb.UsageItem(unit=BYTES, amount=amount)],
        ),
        metadata=quota.as_service(service),
    )
    return [(i.unit, i.amount) for i in response.released]


async def test_release_lowers_usage_once_per_request_id(quota: Quota) -> None:
    await _store(quota, "user:alice", 1000)
    assert await _used(quota, "user:alice") == 1000
    assert await _release(quota, "free-1", "user:alice", 400) == [(BYTES, 400)]
    assert await _release(quota, "free-1", "user:alice", 400) == [(BYTES, 400)]
    assert await _used(quota, "user:alice") == 600
    # Never below zero: only what is used is given back.
    assert await _release(quota, "free-2", "user:alice", 5000) == [(BYTES, 600)]
    assert await _used(quota, "user:alice") == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _release(quota, "free-1", "user:alice", 401)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = unpack_detail(caught.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "REQUEST_ID_REUSED"


async def test_release_is_for_storage_bytes_and_storage_only(quota: Quota) -> None:
    await _store(quota, "user:bob", 100)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _release(quota, "free-x", "user:bob", 10, service="inference")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await quota.stub.ReleaseUsage(
            pb.ReleaseUsageRequest(
                request_id="free-y",
                subject="user:bob",
                items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=10)],
            ),
            metadata=quota.as_service("storage"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(caught.value, error_details_pb2.BadRequest)
    assert bad is not None and bad.field_violations[0].field == "items[0].unit"
    assert await _release(quota, "free-z", "user:bob", 10, service="admin") == [(BYTES, 10)]
    assert await _used(quota, "user:bob") == 90
