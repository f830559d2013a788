"""Bad input: INVALID_ARGUMENT with a BadRequest naming every bad field, and nothing written."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

TABLES = (
    "reservations",
    "usage",
    "cost_records",
    "alerts",
    "rate_events",
    "rate_limits",
    "subjects",
)


async def bad_fields(call: object) -> set[str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert detail is not None
    return {violation.field for violation in detail.field_violations}


async def row_counts(quota: Quota) -> dict[str, int]:
    return {t: await quota.pool.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def test_reserve_lists_every_bad_field_and_writes_nothing(quota: Quota) -> None:
    before = await row_counts(quota)
    fields = await bad_fields(
        quota.stub.Reserve(
            pb.ReserveRequest(
                request_id="",
                subject="",
                items=[
                    pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=-5),
                    pb.UsageItem(unit=pb.UNIT_UNSPECIFIED, amount=1),
                    pb.UsageItem(unit=pb.UNIT_COST_MICRO_USD, amount=1),
                    pb.UsageItem(unit=pb.Unit.ValueType(17), amount=1),
                ],
                ttl=Duration(seconds=-1),
            ),
            metadata=quota.as_service(),
        )
    )
    assert fields == {
        "request_id",
        "subject",
        "items[0].amount",
        "items[1].unit",
        "items[2].unit",
        "items[3].unit",
        "ttl",
    }
    assert await row_counts(quota) == before


async def test_reserve_needs_a_positive_amount_and_a_printable_bounded_subject(
    quota: Quota,
) -> None:
    fields = await bad_fields(
        quota.stub.Reserve(
            pb.ReserveRequest(
                request_id="r",
                subject="x" * 300,
                items=[pb.UsageItem(unit=pb.UNIT_STORAGE_BYTES, amount=0)],
            ),
            metadata=quota.as_service(),
        )
    )
    assert fields == {"subject", "items"}
    fields = await bad_fields(
        quota.stub.Reserve(
            pb.ReserveRequest(request_id="r", subject="bad\x00subject", items=[]),
            metadata=quota.as_service(),
        )
    )
    # NUL is refused by zerog_grpc.wellformed for every service, before quota's own checks run.
    assert fields == {"subject"}


async def test_malformed_reservation_ids_are_invalid(quota: Quota) -> None:
    for call in (
        quota.stub.Commit(
            pb.CommitRequest(reservation_id="not-a-uuid"), metadata=quota.as_service()
        ),
        quota.stub.Release(
            pb.ReleaseRequest(reservation_id="'; DROP TABLE usage; --"), metadata=quota.as_service()
        ),
    ):
        assert await bad_fields(call) == {"reservation_id"}


async def test_admin_and_query_requests_are_validated(quota: Quota) -> None:
    admin = quota.as_service("admin")
    assert await bad_fields(
        quota.stub.SetPrice(
            pb.SetPriceRequest(
                price=pb.Price(unit=pb.UNIT_COST_MICRO_USD, micro_usd=-1, per_amount=0)
            ),
            metadata=admin,
        )
    ) == {"price.unit", "price.micro_usd", "price.per_amount"}
    assert await bad_fields(
        quota.stub.SetSubjectTier(
            pb.SetSubjectTierRequest(
                subject="", tier="free", custom_limits=pb.Limits(storage_bytes=-1)
            ),
            metadata=admin,
        )
    ) == {"subject", "custom_limits", "custom_limits.storage_bytes"}
    assert await bad_fields(
        quota.stub.SetRateLimit(
            pb.SetRateLimitRequest(
                limit=pb.RateLimit(method="", window=Duration(nanos=5), max_requests=-1)
            ),
            metadata=admin,
        )
    ) == {"limit.method", "limit.window", "limit.max_requests"}
    assert await bad_fields(
        quota.stub.ListCostRecords(
            pb.ListCostRecordsRequest(subject="", page_size=501, page_token="garbage!"),
            metadata=admin,
        )
    ) == {"subject", "page_size", "page_token"}
    assert await bad_fields(
        quota.stub.GetCostSummary(
            pb.GetCostSummaryRequest(subject="s", period="2026-13"),
            metadata=admin,
        )
    ) == {"period"}
    assert await row_counts(quota) == dict.fromkeys(TABLES, 0)


async def test_unknown_tier_is_not_found(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.SetSubjectTier(
            pb.SetSubjectTierRequest(subject="s", tier="gold"), metadata=quota.as_service("admin")
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "TIER_NOT_FOUND"
