"""Reservations that are neither committed nor released expire and free their amounts; a
Commit that comes after the deadline is still billed, flagged late, and counted once."""

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


def commit(held: pb.ReserveResponse, amount: int) -> pb.CommitRequest:
    return pb.CommitRequest(
        reservation_id=held.reservation.reservation_id,
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=amount)],
    )


async def usage(quota: Quota) -> tuple[int, int]:
    row = await quota.pool.fetchrow("SELECT used, reserved FROM usage WHERE unit='compute_tokens'")
    assert row is not None
    return row["used"], row["reserved"]


async def test_commit_after_expiry_is_billed_and_flagged_late(quota: Quota) -> None:
    held = await quota.stub.Reserve(ask("a", 10, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=5)

    committed = await quota.stub.Commit(commit(held, 10), metadata=quota.as_service())

    assert committed.reservation.state == pb.RESERVATION_STATE_COMMITTED
    assert committed.cost_record.late
    assert committed.cost_record.cost_micro_usd == 10 * 20
    assert await usage(quota) == (10, 0)
    listed = await quota.stub.ListCostRecords(
        pb.ListCostRecordsRequest(subject="user:bob"), metadata=quota.as_service()
    )
    assert [(r.late, r.items[0].amount) for r in listed.cost_records] == [(True, 10)]
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:bob"), metadata=quota.as_service()
    )
    by_unit = {u.unit: u for u in standing.usages}
    assert (by_unit[pb.UNIT_COMPUTE_TOKENS].used, by_unit[pb.UNIT_COMPUTE_TOKENS].reserved) == (
        10,
        0,
    )
    assert by_unit[pb.UNIT_COST_MICRO_USD].used == 200


async def test_commit_after_the_sweeper_expired_it_is_billed_once_and_retries_replay(
    quota: Quota,
) -> None:
    held = await quota.stub.Reserve(ask("a", 100, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=6)
    assert await quota.server.sweeper.sweep() == 1
    assert await usage(quota) == (0, 0)

    first = await quota.stub.Commit(commit(held, 60), metadata=quota.as_service())
    again = await quota.stub.Commit(commit(held, 60), metadata=quota.as_service())

    assert first.cost_record.late and again.cost_record.late
    assert again.cost_record.cost_record_id == first.cost_record.cost_record_id
    # The sweep gave the reservation back already: only the usage is added, once.
    assert await usage(quota) == (60, 0)
    assert await quota.pool.fetchval("SELECT count(*) FROM cost_records") == 1
    assert await quota.server.sweeper.sweep() == 0
    # A retry with other amounts is a different commit of a finished reservation.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Commit(commit(held, 61), metadata=quota.as_service())
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "RESERVATION_COMMITTED"


async def test_late_usage_counts_even_when_it_goes_over_the_budget(quota: Quota) -> None:
    # The first reservation expires; the budget it held is admitted to another one.
    held = await quota.stub.Reserve(ask("a", 100_000, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=6)
    other = await quota.stub.Reserve(ask("b", 100_000), metadata=quota.as_service())
    await quota.stub.Commit(commit(other, 100_000), metadata=quota.as_service())

    late = await quota.stub.Commit(commit(held, 500), metadata=quota.as_service())

    assert late.cost_record.late
    assert await usage(quota) == (100_500, 0)
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:bob"), metadata=quota.as_service()
    )
    tokens = {u.unit: u for u in standing.usages}[pb.UNIT_COMPUTE_TOKENS]
    assert (tokens.used, tokens.remaining) == (100_500, 0)
    # Nothing more is admitted while usage is over the budget.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Reserve(ask("c", 1), metadata=quota.as_service())
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_commit_on_time_is_not_late(quota: Quota) -> None:
    held = await quota.stub.Reserve(ask("a", 10, ttl_seconds=5), metadata=quota.as_service())
    quota.clock.advance(seconds=4)
    committed = await quota.stub.Commit(commit(held, 10), metadata=quota.as_service())
    assert not committed.cost_record.late
    assert list(committed.cost_record.overage) == []
