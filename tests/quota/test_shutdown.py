"""SIGTERM drains the real process: NOT_SERVING first, in-flight calls finish, exit code 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2

from tests.processes import ServiceProcess, health_status, start_service_process
from tests.support import auth_env, auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def reserve(request_id: str) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        request_id=request_id,
        subject="user:drain",
        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=1)],
    )


@pytest.fixture
async def quota_process(fresh_db_url: str) -> AsyncIterator[ServiceProcess]:
    service = await start_service_process(
        "quota",
        {
            "DATABASE_URL": fresh_db_url,
            **auth_env("quota"),
            "SHUTDOWN_GRACE_SECONDS": "30",
            "SHUTDOWN_DELAY_SECONDS": "1",
        },
    )
    yield service
    if service.process.returncode is None:
        service.kill()
        await service.wait()


async def test_sigterm_drains_in_flight_calls_and_exits_zero(
    quota_process: ServiceProcess, fresh_db_url: str
) -> None:
    await quota_process.wait_serving()
    metadata = auth_metadata("inference", "quota")
    channel = grpc.aio.insecure_channel(quota_process.address)
    stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
    await stub.Reserve(reserve("warm-up"), metadata=metadata)

    # Lock the subject's usage row so the next Reserve is still running when SIGTERM arrives.
    blocker = await asyncpg.connect(fresh_db_url)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("SELECT * FROM quota.usage WHERE subject = 'user:drain' FOR UPDATE")
    in_flight = asyncio.ensure_future(stub.Reserve(reserve("in-flight"), metadata=metadata))
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    for _ in range(200):
        if await blocker.fetchval(waiting):
            break
        await asyncio.sleep(0.05)

    quota_process.terminate()
    statuses = [await health_status(quota_process.address)]
    for _ in range(400):  # NOT_SERVING during the delay, then the listener closes
        if statuses[-1] is None:
            break
        await asyncio.sleep(0.05)
        statuses.append(await health_status(quota_process.address))
    assert NOT_SERVING in statuses
    assert not in_flight.done(), "the in-flight call ended before its lock was released"

    await transaction.rollback()
    await blocker.close()
    response = await in_flight
    assert response.reservation.state == pb.RESERVATION_STATE_RESERVED
    async with asyncio.timeout(60):
        assert await quota_process.wait() == 0
    await channel.close()
