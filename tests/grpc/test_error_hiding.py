"""Unexpected errors reach callers as INTERNAL without internals; a database down as UNAVAILABLE."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from prometheus_client import CollectorRegistry

from services.quota import server as quota_server
from services.quota.__main__ import MIGRATIONS, SCHEMA
from services.quota.config import Config
from tests.support import Access, auth_env, auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import create_pool, migrate
from zerog_db.cluster import TempCluster
from zerog_grpc import start_server, unpack_detail

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

SECRET_DETAIL = "password=hunter2 at /srv/app/service.py line 42"


class Broken(quota_service_pb2_grpc.QuotaServiceServicer):
    """A servicer whose bugs and lost connections the interceptor must contain."""

    async def GetQuota(self, request: pb.GetQuotaRequest, context: Any) -> pb.GetQuotaResponse:
        raise RuntimeError(SECRET_DETAIL)

    async def EstimateCost(
        self, request: pb.EstimateCostRequest, context: Any
    ) -> pb.EstimateCostResponse:
        raise asyncpg.ConnectionDoesNotExistError(SECRET_DETAIL)

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Any
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        yield pb.WatchAlertsResponse(alert=pb.Alert(alert_id=1))
        raise KeyError(SECRET_DETAIL)


@pytest.fixture
async def broken() -> AsyncIterator[QuotaServiceAsyncStub]:
    # Only three methods exist; the others are never called.
    servicer = Broken()  # type: ignore[abstract]
    running = await start_server(
        "127.0.0.1:0",
        ["zerog.quota.v1.QuotaService"],
        lambda s: quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(servicer, s),
        Access("quota", {m: {"inference"} for m in ("GetQuota", "EstimateCost", "WatchAlerts")}),
        CollectorRegistry(),
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield quota_service_pb2_grpc.QuotaServiceStub(channel)
    await running.stop(None)


def assert_hidden(error: grpc.aio.AioRpcError, code: grpc.StatusCode, reason: str) -> None:
    assert error.code() == code
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == reason
    everything = f"{error.details()} {error.trailing_metadata()} {error.debug_error_string()}"
    assert "hunter2" not in everything and "service.py" not in everything


async def test_a_bug_is_internal_and_logged_not_leaked(
    broken: QuotaServiceAsyncStub, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = auth_metadata("inference", "quota")
    with caplog.at_level(logging.ERROR), pytest.raises(grpc.aio.AioRpcError) as raised:
        await broken.GetQuota(pb.GetQuotaRequest(subject="user:a"), metadata=metadata)
    assert_hidden(raised.value, grpc.StatusCode.INTERNAL, "INTERNAL")
    assert raised.value.details() == "internal error"
    # The operator still gets the whole story, traceback included.
    assert any(SECRET_DETAIL in r.getMessage() or r.exc_info for r in caplog.records)


async def test_a_lost_connection_is_unavailable(
    broken: QuotaServiceAsyncStub,
) -> None:
    metadata = auth_metadata("inference", "quota")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broken.EstimateCost(pb.EstimateCostRequest(), metadata=metadata)
    assert_hidden(raised.value, grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE")


async def test_a_stream_that_breaks_midway_ends_internal(
    broken: QuotaServiceAsyncStub,
) -> None:
    metadata = auth_metadata("inference", "quota")
    stream = broken.WatchAlerts(pb.WatchAlertsRequest(), metadata=metadata)
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for message in stream:
            received.append(message.alert.alert_id)
    assert received == [1]
    assert_hidden(raised.value, grpc.StatusCode.INTERNAL, "INTERNAL")


@pytest.fixture
def own_cluster() -> Iterator[TempCluster]:
    """A cluster of our own, since this test stops it."""
    with TempCluster() as cluster:
        yield cluster


async def test_database_down_is_unavailable_and_recovers(own_cluster: TempCluster) -> None:
    await migrate(own_cluster.dsn, SCHEMA, MIGRATIONS)
    config = Config.from_env(
        {"DATABASE_URL": own_cluster.dsn, **auth_env("quota"), "METRICS_PORT": "0"}
    )
    pool = await create_pool(own_cluster.dsn, search_path=SCHEMA)
    running = await quota_server.start(pool, config, "127.0.0.1:0")
    metadata = auth_metadata("inference", "quota")
    request = pb.GetQuotaRequest(subject="user:a")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
            await stub.GetQuota(request, metadata=metadata)
            own_cluster.pause()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetQuota(request, metadata=metadata)
            assert_hidden(raised.value, grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE")
            own_cluster.resume()
            # The pool replaces its dead connections; the first call after may still see one.
            for _ in range(20):
                try:
                    answer = await stub.GetQuota(request, metadata=metadata)
                    break
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert answer.subject == "user:a"
    finally:
        await running.stop(None)
        await pool.close()
