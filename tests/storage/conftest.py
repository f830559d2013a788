"""A migrated storage database per test, and real storage servers wired to a real broker, quota
service and devnet storage nodes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc.aio
import pytest

from services.storage import server
from services.storage.config import Config
from services.storage.server import StorageServer
from tests.broker.conftest import (  # noqa: F401  # fixtures shared with the broker's tests
    Broker,
    StartBroker,
    broker_db_url,
    broker_template,
    start_broker,
)
from tests.quota.conftest import (  # noqa: F401  # fixtures shared with quota's tests
    Quota,
    StartQuota,
    clock,
    quota_db_url,
    quota_pool,
    quota_template,
    start_quota,
)
from tests.support import JWT_SECRET, auth_metadata
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_db import create_pool, migrate

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

MIGRATIONS = Path(__file__).parents[2] / "services" / "storage" / "migrations"


def _database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def storage_template(postgres_url: str) -> AsyncIterator[str]:
    name = f"storage_template_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name}")
    await migrate(_database(postgres_url, name), "storage", MIGRATIONS)
    yield name
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


@pytest.fixture
async def storage_db_url(postgres_url: str, storage_template: str) -> AsyncIterator[str]:
    name = f"storage_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f"CREATE DATABASE {name} TEMPLATE {storage_template}")
    yield _database(postgres_url, name)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


def storage_env(
    database_url: str, node_urls: Sequence[str], broker: str, quota: str, tmp: Path
) -> dict[str, str]:
    """The environment a storage server (in-process or a child process) runs with."""
    return {
        "DATABASE_URL": database_url,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "METRICS_PORT": "0",
        "STORAGE_NODES": ",".join(node_urls),
        "BROKER_ADDRESS": broker,
        "QUOTA_ADDRESS": quota,
        "STORAGE_TEMP_DIR": str(tmp / f"storage-tmp-{uuid.uuid4().hex[:6]}"),
        "UPLOAD_POLL_SECONDS": "0.05",
        "UPLOAD_TX_TIMEOUT_SECONDS": "60",
        "UPLOAD_FINALITY_TIMEOUT_SECONDS": "60",
    }


@dataclass
class Storage:
    """A running storage server and a stub; `md(...)` authenticates as a service/user."""

    server: StorageServer
    stub: StorageServiceAsyncStub
    pool: asyncpg.Pool
    config: Config
    broker: Broker
    quota: Quota

    @staticmethod
    def md(service: str = "inference", user: str = "") -> tuple[tuple[str, str], ...]:
        return auth_metadata(service, "storage", user)


StartStorage = Callable[..., Awaitable[Storage]]


@pytest.fixture
async def start_storage(
    storage_db_url: str,
    start_broker: StartBroker,  # noqa: F811
    start_quota: StartQuota,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[StartStorage]:
    """start(node_urls, **env overrides) -> a storage server paying through a real broker."""
    started: list[tuple[Storage, grpc.aio.Channel]] = []
    broker: Broker | None = None
    quota: Quota | None = None

    async def start(node_urls: Sequence[str], **overrides: str) -> Storage:
        nonlocal broker, quota
        broker = broker or await start_broker()
        quota = quota or await start_quota()
        env = storage_env(
            storage_db_url,
            node_urls,
            f"127.0.0.1:{broker.server.port}",
            f"127.0.0.1:{quota.server.port}",
            tmp_path,
        )
        config = Config.from_env({**env, **overrides})
        pool = await create_pool(storage_db_url, search_path="storage", max_size=10)
        running = await server.start(pool, config, "127.0.0.1:0")
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{running.port}",
            options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)],
        )
        storage = Storage(
            running,
            storage_service_pb2_grpc.StorageServiceStub(channel),
            pool,
            config,
            broker,
            quota,
        )
        started.append((storage, channel))
        return storage

    yield start
    for storage, channel in started:
        await channel.close()
        await storage.server.stop(grace=None)
        await storage.pool.close()
