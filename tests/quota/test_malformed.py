"""Requests with NUL in text or out-of-range times are refused before any servicer runs."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_grpc.wellformed import malformed_fields


def test_a_wellformed_request_has_no_problems() -> None:
    request = pb.ReserveRequest(
        request_id="r1",
        subject="user:ünïcode",
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=5)],
        ttl=Duration(seconds=-30, nanos=-5),
    )
    assert malformed_fields(request) == {}


def test_every_bad_field_is_named_by_its_path() -> None:
    request = pb.CommitRequest(
        reservation_id="a\x00b",
        items=[pb.UsageItem(price_key="ok"), pb.UsageItem(price_key="\x00")],
        metadata={"k\x00": "v", "model": "x\x00"},
    )
    assert malformed_fields(request) == {
        "reservation_id": "must not contain NUL characters",
        "items[1].price_key": "must not contain NUL characters",
        "metadata['k\\x00']": "must not contain NUL characters",
        "metadata['model']": "must not contain NUL characters",
    }


@pytest.mark.parametrize(
    "ttl",
    [
        Duration(seconds=315_576_000_001),
        Duration(seconds=-315_576_000_001),
        Duration(seconds=1, nanos=-1),
        Duration(nanos=1_000_000_000),
    ],
)
def test_durations_outside_the_well_known_range(ttl: Duration) -> None:
    assert list(malformed_fields(pb.ReserveRequest(ttl=ttl))) == ["ttl"]


@pytest.mark.parametrize(
    "when",
    [Timestamp(seconds=253_402_300_800), Timestamp(seconds=-62_135_596_801), Timestamp(nanos=-1)],
)
def test_timestamps_outside_the_well_known_range(when: Timestamp) -> None:
    request = pb.ListCostRecordsRequest(start_time=when, end_time=Timestamp(seconds=0))
    assert list(malformed_fields(request)) == ["start_time"]


async def test_the_server_refuses_with_bad_request_and_writes_nothing(quota: Quota) -> None:
    request = pb.ReserveRequest(
        request_id="nul-1",
        subject="user:\x00",
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=1)],
        ttl=Duration(seconds=10**12),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.Reserve(request, metadata=quota.as_service())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert details is not None
    assert {v.field for v in details.field_violations} == {"subject", "ttl"}
    assert await quota.pool.fetchval("SELECT count(*) FROM quota.reservations") == 0
