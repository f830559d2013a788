"""PostgreSQL stopped and started again under 50 concurrent reserve loops: callers get
UNAVAILABLE (never INTERNAL) while it is down, the server recovers by itself, and every
reservation a caller was told about is in the table, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
import grpc
import grpc.aio
import pytest

from services.quota import server
from tests.quota.conftest import MIGRATIONS, quota_config
from tests.support import auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import create_pool, migrate
from zerog_db.cluster import TempCluster

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

WORKERS = 50
SUBJECT = "tenant:outage"


@pytest.fixture
def cluster() -> Iterator[TempCluster]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test."""
    with TempCluster() as running:
        yield running


@dataclass
class Tally:
    """What the loops saw: granted request id -> reservation id, and other outcomes."""

    granted: dict[str, str] = field(default_factory=dict)
    codes: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # Cleared while postgres is being started again: see the test.
    go: asyncio.Event = field(default_factory=asyncio.Event)
    calling: int = 0


@pytest.fixture
async def stub(cluster: TempCluster) -> AsyncIterator[QuotaServiceAsyncStub]:
    await migrate(cluster.dsn, "quota", MIGRATIONS)
    pool = await create_pool(cluster.dsn, search_path="quota", max_size=20)
    running = await server.start(pool, quota_config(cluster.dsn), "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield quota_service_pb2_grpc.QuotaServiceStub(channel)
    await channel.close()
    await running.stop(grace=None)
    await pool.close()


async def _loop(stub: QuotaServiceAsyncStub, worker: int, tally: Tally) -> None:
    md = auth_metadata("inference", "quota")
    index = 0
    while not tally.stop.is_set():
        request_id = f"w{worker}-{index}"
        # A request that failed is retried with the same id, as a client must; it is idempotent.
        while not tally.stop.is_set():
            await tally.go.wait()
            tally.calling += 1
            try:
                answer = await stub.Reserve(
                    pb.ReserveRequest(
                        request_id=request_id,
                        subject=SUBJECT,
                        items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=1)],
                    ),
                    metadata=md,
                    timeout=10,
                )
            except grpc.aio.AioRpcError as error:
                tally.codes[error.code().name] += 1
                await asyncio.sleep(0.05)
                continue
            finally:
                tally.calling -= 1
            tally.codes["OK"] += 1
            tally.granted[request_id] = answer.reservation.reservation_id
            break
        index += 1


async def _until(condition: object, what: str) -> None:
    for _ in range(600):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_restart_under_load_loses_nothing(
    cluster: TempCluster, stub: QuotaServiceAsyncStub
) -> None:
    await stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject=SUBJECT, tier="custom", custom_limits=pb.Limits(compute_tokens=10**9)
        ),
        metadata=auth_metadata("admin", "quota"),
    )
    tally = Tally()
    tally.go.set()
    loops = [asyncio.create_task(_loop(stub, w, tally)) for w in range(WORKERS)]
    try:
        await _until(lambda: tally.codes["OK"] >= 100, "100 reservations before the outage")
        await asyncio.to_thread(cluster.pause)
        await _until(lambda: tally.codes["UNAVAILABLE"] >= WORKERS, "UNAVAILABLE while down")
        before = tally.codes["OK"]
        # Starting postgres forks this process (as root it switches user, so no vfork), and a
        # fork while gRPC threads are mid-call can crash the child: calls pause around it.
        tally.go.clear()
        await _until(lambda: tally.calling == 0, "calls in flight to end")
        cluster.resume()
        tally.go.set()
        await _until(lambda: tally.codes["OK"] >= before + 200, "recovery after the restart")
    finally:
        tally.stop.set()
        tally.go.set()
        await asyncio.gather(*loops)

    # Down is UNAVAILABLE, never INTERNAL or UNKNOWN.
    assert set(tally.codes) <= {"OK", "UNAVAILABLE"}, tally.codes
    connection = await asyncpg.connect(cluster.dsn)
    try:
        rows = await connection.fetch(
            "SELECT request_id, reservation_id::text FROM quota.reservations WHERE subject = $1",
            SUBJECT,
        )
    finally:
        await connection.close()
    stored = Counter(r["request_id"] for r in rows)
    assert max(stored.values()) == 1  # no request reserved twice
    by_request = {r["request_id"]: r["reservation_id"] for r in rows}
    missing = {k: v for k, v in tally.granted.items() if by_request.get(k) != v}
    assert missing == {}
