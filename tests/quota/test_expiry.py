"""Reservations that are neither committed nor released expire and free their amounts."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail


def ask(request_id: str, amount: int, ttl_seconds: int = 30) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        request_id=request_id,
        subject="user:bob",
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=amount)],
        ttl=Duration(seconds=ttl_seconds),
    )


async def test_stale_reservation_expires_and_frees_its_amount(quota: Quota) -> None:
    held = await quota.stub.Reserve(ask("a", 100_000), metadata=quota.as_service())
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Reserve(ask("b", 1), metadata=quota.as_service())
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    quota.clock.advance(seconds=31)
    assert await quota.server.sweeper.sweep() == 1

    state = await quota.pool.fetchval(
        "SELECT state FROM reservations WHERE reservation_id = $1",
        __import__("uuid").UUID(held.reservation.reservation_id),
    )
    assert state == "expired"
    assert await quota.pool.fetchval("SELECT reserved FROM usage WHERE unit='compute_tokens'") == 0
    again = await quota.stub.Reserve(ask("c", 100_000), metadata=quota.as_service())
    assert again.reservation.state == pb.RESERVATION_STATE_RESERVED


async def test_a_new_reservation_frees_expired_ones_without_waiting_for_the_sweeper(
    quota: Quota,
) -> None:
    await quota.stub.Reserve(ask("a", 100_000, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=6)
    again = await quota.stub.Reserve(ask("b", 100_000), metadata=quota.as_service())
    assert again.reservation.state == pb.RESERVATION_STATE_RESERVED


async def test_commit_after_expiry_is_refused_and_charges_nothing(quota: Quota) -> None:
    held = await quota.stub.Reserve(ask("a", 10, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=5)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Commit(
            pb.CommitRequest(
                reservation_id=held.reservation.reservation_id,
                items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=10)],
            ),
            metadata=quota.as_service(),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "RESERVATION_EXPIRED"
    row = await quota.pool.fetchrow("SELECT used, reserved FROM usage WHERE unit='compute_tokens'")
    assert row is not None
    assert (row["used"], row["reserved"]) == (0, 0)
    assert await quota.pool.fetchval("SELECT count(*) FROM cost_records") == 0
