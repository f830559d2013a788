"""A migrated scheduler database per test (cloned from a template), servers, a webhook endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import grpc.aio
import pytest

from services.scheduler import server
from services.scheduler.config import Config
from services.scheduler.server import SchedulerServer
from tests.databases import database_fixtures
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock, auth_env, auth_metadata
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog_db import create_pool

if TYPE_CHECKING:
    from zerog.scheduler.v1.scheduler_service_pb2_grpc import SchedulerServiceAsyncStub

MIGRATIONS = Path(__file__).parents[2] / "services" / "scheduler" / "migrations"


scheduler_template, scheduler_db_url = database_fixtures("scheduler", MIGRATIONS)


@pytest.fixture
async def db(scheduler_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool for the test's own checks on the scheduler's tables."""
    pool = await create_pool(scheduler_db_url, search_path="scheduler", max_size=5)
    yield pool
    await pool.close()


def scheduler_config(database_url: str, **overrides: str) -> Config:
    env = {
        "DATABASE_URL": database_url,
        **auth_env("scheduler"),
        "METRICS_PORT": "0",
        "SCHEDULER_RETRY_BASE_SECONDS": "30",
        "DELIVERY_RETRY_BASE_SECONDS": "30",
        **overrides,
    }
    return Config.from_env(env)


@pytest.fixture
def clock() -> ManualClock:
    # A Friday; tests move it as they need.
    return ManualClock(datetime(2026, 3, 6, 0, 0, tzinfo=UTC))


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    endpoint = WebhookReceiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


@dataclass
class Scheduler:
    """A running scheduler (loop not started: tests tick it) and a stub calling it."""

    server: SchedulerServer
    stub: SchedulerServiceAsyncStub
    channel: grpc.aio.Channel
    pool: asyncpg.Pool

    async def tick(self) -> None:
        await self.server.loop.tick()

    @staticmethod
    def as_service(service: str = "app") -> tuple[tuple[str, str], ...]:
        return auth_metadata(service, "scheduler")


StartScheduler = Callable[..., Awaitable[Scheduler]]


@pytest.fixture
async def start_scheduler(
    scheduler_db_url: str, clock: ManualClock
) -> AsyncIterator[StartScheduler]:
    """Start schedulers (several may share the database, as replicas); all stop after the test."""
    started: list[Scheduler] = []

    async def start(composer: Any = None, pool_size: int = 12, **overrides: str) -> Scheduler:
        pool = await create_pool(scheduler_db_url, search_path="scheduler", max_size=pool_size)
        config = scheduler_config(scheduler_db_url, **overrides)
        running = await server.start(
            pool,
            config,
            "127.0.0.1:0",
            clock=clock,
            run_loop=False,
            composer=composer,
            instance=f"replica-{len(started)}",
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        stub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        scheduler = Scheduler(running, stub, channel, pool)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        await scheduler.channel.close()
        await scheduler.server.stop(grace=None)
        await scheduler.pool.close()


@pytest.fixture
async def scheduler(start_scheduler: StartScheduler) -> Scheduler:
    return await start_scheduler()
