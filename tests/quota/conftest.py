"""A migrated quota database per test (cloned from a template) and a real quota server on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import grpc
import grpc.aio
import pytest

from services.quota import server
from services.quota.config import Config
from services.quota.server import QuotaServer
from tests.databases import database_fixtures
from tests.support import ManualClock, auth_env, auth_metadata
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import create_pool

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

MIGRATIONS = Path(__file__).parents[2] / "services" / "quota" / "migrations"


quota_template, quota_db_url = database_fixtures("quota", MIGRATIONS)


@pytest.fixture
async def quota_pool(quota_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(quota_db_url, search_path="quota", max_size=20)
    yield pool
    await pool.close()


def quota_config(database_url: str, **overrides: str) -> Config:
    env = {
        "DATABASE_URL": database_url,
        **auth_env("quota"),
        "METRICS_PORT": "0",
        # The tests drive expiry through the clock and sweep() themselves.
        "SWEEP_INTERVAL_SECONDS": "3600",
        **overrides,
    }
    return Config.from_env(env)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class Quota:
    """A running quota server and a stub that calls it as some service."""

    server: QuotaServer
    stub: QuotaServiceAsyncStub
    channel: grpc.aio.Channel
    clock: ManualClock
    pool: asyncpg.Pool

    def as_service(self, service: str = "inference") -> tuple[tuple[str, str], ...]:
        return auth_metadata(service, "quota")


StartQuota = Callable[..., Awaitable[Quota]]


@pytest.fixture
async def start_quota(
    quota_pool: asyncpg.Pool, quota_db_url: str, clock: ManualClock
) -> AsyncIterator[StartQuota]:
    """Start quota servers (several may share the database); all are stopped after the test."""
    started: list[Quota] = []

    pools: list[asyncpg.Pool] = []

    async def start(**overrides: str) -> Quota:
        # Each server gets its own pool, as separate replicas would.
        pool = await create_pool(quota_db_url, search_path="quota", max_size=20)
        pools.append(pool)
        config = quota_config(quota_db_url, **overrides)
        running = await server.start(pool, config, "127.0.0.1:0", clock=clock)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        quota = Quota(
            running, quota_service_pb2_grpc.QuotaServiceStub(channel), channel, clock, quota_pool
        )
        started.append(quota)
        return quota

    yield start
    for quota in started:
        await quota.channel.close()
        await quota.server.stop(grace=None)
    for pool in pools:
        await pool.close()


@pytest.fixture
async def quota(start_quota: StartQuota) -> Quota:
    return await start_quota()
