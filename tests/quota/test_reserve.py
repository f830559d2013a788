"""Reserve, commit and release through a real server: costs, idempotency and refusals."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

TOKENS = pb.UNIT_COMPUTE_TOKENS
BYTES = pb.UNIT_STORAGE_BYTES


def tokens(amount: int, key: str = "") -> pb.UsageItem:
    return pb.UsageItem(unit=TOKENS, amount=amount, price_key=key)


async def reserve(
    quota: Quota,
    request_id: str,
    *items: pb.UsageItem,
    subject: str = "user:alice",
    service: str = "inference",
) -> pb.Reservation:
    response = await quota.stub.Reserve(
        pb.ReserveRequest(
            request_id=request_id, subject=subject, items=items, operation="chat.completion"
        ),
        metadata=quota.as_service(service),
    )
    return response.reservation


async def test_reserve_prices_tokens_and_commit_records_exact_cost(quota: Quota) -> None:
    reservation = await reserve(quota, "r1", tokens(1500))
    # $0.02 per 1K tokens = 20 micro-dollars a token.
    assert reservation.cost_micro_usd == 30_000
    assert reservation.state == pb.RESERVATION_STATE_RESERVED

    committed = await quota.stub.Commit(
        pb.CommitRequest(
            reservation_id=reservation.reservation_id,
            items=[tokens(1234)],
            metadata={"provider": "0xabc", "model": "m"},
        ),
        metadata=quota.as_service(),
    )

    assert committed.reservation.state == pb.RESERVATION_STATE_COMMITTED
    assert committed.cost_record.cost_micro_usd == 1234 * 20
    assert committed.cost_record.metadata["provider"] == "0xabc"
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:alice"), metadata=quota.as_service()
    )
    by_unit = {u.unit: u for u in standing.usages}
    assert by_unit[TOKENS].used == 1234 and by_unit[TOKENS].reserved == 0
    assert by_unit[pb.UNIT_COST_MICRO_USD].used == 1234 * 20
    assert by_unit[TOKENS].remaining == 100_000 - 1234


async def test_per_model_price_applies_and_rounds_up(quota: Quota) -> None:
    await quota.stub.SetPrice(
        pb.SetPriceRequest(
            price=pb.Price(unit=TOKENS, price_key="big-model", micro_usd=7, per_amount=3)
        ),
        metadata=quota.as_service("admin"),
    )
    estimate = await quota.stub.EstimateCost(
        pb.EstimateCostRequest(
            items=[tokens(10, "big-model"), tokens(10, "other"), pb.UsageItem(unit=BYTES, amount=1)]
        ),
        metadata=quota.as_service(),
    )
    # 10 * 7 / 3 = 23.33 -> 24; the default price for an unknown model; 1 byte -> 1 micro-dollar.
    assert [i.cost_micro_usd for i in estimate.items] == [24, 200, 1]
    assert estimate.total_cost_micro_usd == 225


async def test_retry_with_same_request_id_returns_first_reservation(quota: Quota) -> None:
    first = await reserve(quota, "same", tokens(100))
    again = await reserve(quota, "same", tokens(100))
    assert again.reservation_id == first.reservation_id
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:alice"), metadata=quota.as_service()
    )
    assert {u.unit: u.reserved for u in standing.usages}[TOKENS] == 100


async def test_reused_request_id_with_other_content_is_already_exists(quota: Quota) -> None:
    await reserve(quota, "same", tokens(100))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await reserve(quota, "same", tokens(101))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "REQUEST_ID_REUSED"


async def test_commit_twice_returns_the_first_record_and_charges_once(quota: Quota) -> None:
    reservation = await reserve(quota, "r", tokens(50))
    request = pb.CommitRequest(reservation_id=reservation.reservation_id, items=[tokens(40)])
    first = await quota.stub.Commit(request, metadata=quota.as_service())
    second = await quota.stub.Commit(request, metadata=quota.as_service())
    assert second.cost_record.cost_record_id == first.cost_record.cost_record_id
    assert await quota.pool.fetchval("SELECT used FROM usage WHERE unit = 'compute_tokens'") == 40


async def test_commit_over_the_reservation_is_billed_in_full_and_flagged(quota: Quota) -> None:
    reservation = await reserve(quota, "r", tokens(50))
    committed = await quota.stub.Commit(
        pb.CommitRequest(reservation_id=reservation.reservation_id, items=[tokens(80)]),
        metadata=quota.as_service(),
    )

    record = committed.cost_record
    assert [(i.amount, i.cost_micro_usd) for i in record.items] == [(80, 80 * 20)]
    assert record.cost_micro_usd == 80 * 20
    assert [(i.unit, i.amount, i.cost_micro_usd) for i in record.overage] == [(TOKENS, 30, 30 * 20)]
    assert not record.late
    row = await quota.pool.fetchrow("SELECT used, reserved FROM usage WHERE unit='compute_tokens'")
    assert row is not None
    assert (row["used"], row["reserved"]) == (80, 0)
    listed = await quota.stub.ListCostRecords(
        pb.ListCostRecordsRequest(subject="user:alice"), metadata=quota.as_service()
    )
    assert [[i.amount for i in r.overage] for r in listed.cost_records] == [[30]]
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:alice"), metadata=quota.as_service()
    )
    by_unit = {u.unit: u for u in standing.usages}
    assert (by_unit[TOKENS].used, by_unit[TOKENS].reserved) == (80, 0)
    assert by_unit[pb.UNIT_COST_MICRO_USD].used == 80 * 20
    again = await quota.stub.Commit(
        pb.CommitRequest(reservation_id=reservation.reservation_id, items=[tokens(80)]),
        metadata=quota.as_service(),
    )
    assert again.cost_record.cost_record_id == record.cost_record_id
    assert await quota.pool.fetchval("SELECT used FROM usage WHERE unit='compute_tokens'") == 80


async def test_commit_of_an_item_not_reserved_is_invalid_and_changes_nothing(
    quota: Quota,
) -> None:
    reservation = await reserve(quota, "r", tokens(50))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Commit(
            pb.CommitRequest(
                reservation_id=reservation.reservation_id, items=[tokens(10, "other-model")]
            ),
            metadata=quota.as_service(),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert bad is not None and [v.field for v in bad.field_violations] == ["items[0]"]
    row = await quota.pool.fetchrow("SELECT used, reserved FROM usage WHERE unit='compute_tokens'")
    assert row is not None
    assert (row["used"], row["reserved"]) == (0, 50)


async def test_release_gives_back_and_commit_after_release_is_refused(quota: Quota) -> None:
    reservation = await reserve(quota, "r", tokens(500))
    released = await quota.stub.Release(
        pb.ReleaseRequest(reservation_id=reservation.reservation_id), metadata=quota.as_service()
    )
    assert released.reservation.state == pb.RESERVATION_STATE_RELEASED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Commit(
            pb.CommitRequest(reservation_id=reservation.reservation_id), metadata=quota.as_service()
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failure = unpack_detail(raised.value, error_details_pb2.PreconditionFailure)
    assert failure is not None and failure.violations[0].type == "RESERVATION_RELEASED"
    assert await quota.pool.fetchval("SELECT reserved FROM usage WHERE unit='compute_tokens'") == 0


async def test_another_service_cannot_commit_or_release_a_reservation(quota: Quota) -> None:
    reservation = await reserve(quota, "r", tokens(10), service="inference")
    for call in (
        quota.stub.Commit(
            pb.CommitRequest(reservation_id=reservation.reservation_id),
            metadata=quota.as_service("storage"),
        ),
        quota.stub.Release(
            pb.ReleaseRequest(reservation_id=reservation.reservation_id),
            metadata=quota.as_service("storage"),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_unknown_reservation_is_not_found(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Release(
            pb.ReleaseRequest(reservation_id="00000000-0000-0000-0000-000000000000"),
            metadata=quota.as_service(),
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "RESERVATION_NOT_FOUND"


async def test_over_budget_is_resource_exhausted_with_quota_failure(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await reserve(quota, "big", tokens(100_001))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
    assert failure is not None
    assert failure.violations[0].subject == "user:alice:compute_tokens"
    assert await quota.pool.fetchval("SELECT count(*) FROM reservations") == 0


async def test_cost_budget_limits_even_when_tokens_remain(quota: Quota) -> None:
    await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="user:alice", tier="custom", custom_limits=pb.Limits(cost_micro_usd=1000)
        ),
        metadata=quota.as_service("admin"),
    )
    await reserve(quota, "a", tokens(50))  # 1000 micro-dollars: exactly the budget
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await reserve(quota, "b", tokens(1))
    failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
    assert failure is not None and failure.violations[0].subject == "user:alice:cost_micro_usd"
