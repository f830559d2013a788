"""A real quota server for scheduler tests, restartable on the same port and database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import grpc.aio

from services.quota import server as quota_server
from services.quota.server import QuotaServer
from tests.quota.conftest import quota_config
from tests.support import ManualClock, auth_metadata
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import create_pool


@dataclass
class QuotaNode:
    """quota through its production server.start(); stop() and start() keep the address."""

    database_url: str
    clock: ManualClock
    port: int = 0
    server: QuotaServer | None = None
    pool: asyncpg.Pool | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.pool = await create_pool(self.database_url, search_path="quota", max_size=10)
        config = quota_config(self.database_url)
        self.server = await quota_server.start(
            self.pool, config, f"127.0.0.1:{self.port}", clock=self.clock
        )
        self.port = self.server.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=None)
            self.server = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def call(self, method: str, request: object, caller: str = "inference") -> object:
        """One unary call on a fresh channel (the server may have been restarted)."""
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
            rpc = getattr(stub, method)
            return await rpc(request, metadata=auth_metadata(caller, "quota"))

    async def set_token_limit(self, subject: str, tokens: int) -> None:
        await self.call(
            "SetSubjectTier",
            qpb.SetSubjectTierRequest(
                subject=subject, tier="custom", custom_limits=qpb.Limits(compute_tokens=tokens)
            ),
            caller="admin",
        )

    async def spend(self, subject: str, request_id: str, tokens: int) -> None:
        """Reserve and commit `tokens` compute tokens, as inference would."""
        items = [qpb.UsageItem(unit=qpb.UNIT_COMPUTE_TOKENS, amount=tokens)]
        reserved = await self.call(
            "Reserve", qpb.ReserveRequest(request_id=request_id, subject=subject, items=items)
        )
        assert isinstance(reserved, qpb.ReserveResponse)
        await self.call(
            "Commit",
            qpb.CommitRequest(reservation_id=reserved.reservation.reservation_id, items=items),
        )


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (at most 15 s) until `check` holds: the alert stream is asynchronous."""
    for _ in range(750):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached within 15 s")
