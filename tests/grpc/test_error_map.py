"""The error map: a service's exceptions reach callers as the statuses and details it declares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.rpc import error_details_pb2
from prometheus_client import CollectorRegistry

from tests.support import Access, auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import RequestInProgress
from zerog_grpc import (
    KERNEL_ERRORS,
    ErrorMap,
    Failure,
    Problems,
    error_info,
    start_server,
    status,
    unpack_detail,
)
from zerog_grpc.errormap import failure_for

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub


class ShopError(Exception):
    """The root of a made-up service's errors."""


class OutOfStock(ShopError):
    def __init__(self, item: str) -> None:
        super().__init__(f"{item} is out of stock")
        self.item = item


class Discontinued(OutOfStock):
    """More specific than OutOfStock: its own entry wins."""


ERRORS: ErrorMap = {
    **KERNEL_ERRORS,
    ShopError: status(grpc.StatusCode.FAILED_PRECONDITION, "SHOP_ERROR"),
    OutOfStock: lambda e: Failure(
        grpc.StatusCode.RESOURCE_EXHAUSTED, str(e), (error_info("OUT_OF_STOCK", item=e.item),)
    ),
    Discontinued: status(grpc.StatusCode.NOT_FOUND, "DISCONTINUED", retry=2.5),
}


class Shop(quota_service_pb2_grpc.QuotaServiceServicer):
    """Raises what the request's subject names; never aborts by hand."""

    async def GetQuota(self, request: pb.GetQuotaRequest, context: Any) -> pb.GetQuotaResponse:
        match request.subject:
            case "validate":
                problems = Problems()
                problems.request_id("request_id", "")
                problems.name("subject", "x" * 300)
                problems.not_negative("amount", -1)
                problems.raise_if_any("invalid GetQuotaRequest")
            case "busy":
                raise RequestInProgress("r-7", 1.5)
            case "stock":
                raise OutOfStock("tea")
            case "gone":
                raise Discontinued("coffee")
            case "shop":
                raise ShopError("closed")
        raise ZeroDivisionError("a bug")

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Any
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        yield pb.WatchAlertsResponse(alert=pb.Alert(alert_id=1))
        raise OutOfStock("milk")


@pytest.fixture
async def shop() -> AsyncIterator[QuotaServiceAsyncStub]:
    servicer = Shop()  # type: ignore[abstract]  # only two methods are called
    running = await start_server(
        "127.0.0.1:0",
        ["zerog.quota.v1.QuotaService"],
        lambda s: quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(servicer, s),
        Access("quota", {m: {"inference"} for m in ("GetQuota", "WatchAlerts")}),
        CollectorRegistry(),
        errors=ERRORS,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield quota_service_pb2_grpc.QuotaServiceStub(channel)
    await running.stop(None)


async def call(shop: QuotaServiceAsyncStub, subject: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await shop.GetQuota(
            pb.GetQuotaRequest(subject=subject), metadata=auth_metadata("inference", "quota")
        )
    return raised.value


async def test_every_bad_field_is_named_in_one_bad_request(shop: QuotaServiceAsyncStub) -> None:
    error = await call(shop, "validate")

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "invalid GetQuotaRequest"
    bad = unpack_detail(error, error_details_pb2.BadRequest)
    assert bad is not None
    assert [v.field for v in bad.field_violations] == ["request_id", "subject", "amount"]


async def test_a_domain_error_gets_its_entry_and_a_subclass_the_most_specific_one(
    shop: QuotaServiceAsyncStub,
) -> None:
    stock = await call(shop, "stock")
    assert stock.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = unpack_detail(stock, error_details_pb2.ErrorInfo)
    assert info is not None and (info.reason, dict(info.metadata)) == (
        "OUT_OF_STOCK",
        {"item": "tea"},
    )

    gone = await call(shop, "gone")
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    retry = unpack_detail(gone, error_details_pb2.RetryInfo)
    assert retry is not None and retry.retry_delay.ToMilliseconds() == 2500

    root = await call(shop, "shop")
    assert root.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert root.details() == "closed"


async def test_a_request_in_progress_is_aborted_with_retry_info(
    shop: QuotaServiceAsyncStub,
) -> None:
    error = await call(shop, "busy")

    assert error.code() == grpc.StatusCode.ABORTED
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "REQUEST_IN_PROGRESS"
    assert info.metadata["request_id"] == "r-7"
    retry = unpack_detail(error, error_details_pb2.RetryInfo)
    assert retry is not None and retry.retry_delay.ToMilliseconds() == 1500


async def test_what_no_entry_names_is_internal(shop: QuotaServiceAsyncStub) -> None:
    error = await call(shop, "bug")

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    assert "ZeroDivision" not in f"{error.details()} {error.trailing_metadata()}"


async def test_a_stream_ends_with_the_mapped_status(shop: QuotaServiceAsyncStub) -> None:
    stream = shop.WatchAlerts(pb.WatchAlertsRequest(), metadata=auth_metadata("inference", "quota"))
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for message in stream:
            received.append(message.alert.alert_id)

    assert received == [1]
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_lookup_walks_the_class_hierarchy() -> None:
    class SoldOut(OutOfStock):
        pass

    failure = failure_for(SoldOut("bread"), ERRORS)
    assert failure is not None and failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure_for(KeyError("x"), ERRORS) is None
