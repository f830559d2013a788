"""Storage servers wired to a real broker, quota service and devnet storage nodes.

The broker, quota and the storage database are shared by the tests of one module (starting
them is most of a test's cost); each test starts its own storage server on them and works in
namespaces of its own (helpers.namespace_name), so no test depends on another's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import grpc.aio
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from services.broker import server as broker_server
from services.quota import server as quota_server
from services.storage import server
from services.storage.config import Config
from services.storage.server import StorageServer
from tests.broker.conftest import Broker, broker_config
from tests.databases import create_database, drop_database, with_database
from tests.quota.conftest import Quota, quota_config
from tests.support import STORAGE_MASTER_KEY, ManualClock, auth_env, auth_metadata
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_db import create_pool, migrate

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

ROOT = Path(__file__).parents[2]


def _funded_wallet(devnet: Devnet) -> LocalAccount:
    """A new platform wallet for the module's broker, so modules never share a nonce."""
    account: LocalAccount = Account.create()
    devnet.web3().provider.make_request(
        RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)]
    )
    return account


@pytest.fixture(scope="session")
async def storage_template(postgres_url: str) -> AsyncIterator[str]:
    """A database with storage's, quota's and the broker's migrations, each in its schema."""
    name = await create_database(postgres_url, "storage_template")
    for service in ("storage", "quota", "broker"):
        await migrate(
            with_database(postgres_url, name), service, ROOT / "services" / service / "migrations"
        )
    yield name
    await drop_database(postgres_url, name)


@pytest.fixture(scope="module")
async def storage_db_url(postgres_url: str, storage_template: str) -> AsyncIterator[str]:
    """One database per test module for storage, quota and the broker (schemas apart)."""
    name = await create_database(postgres_url, "storage", storage_template)
    yield with_database(postgres_url, name)
    await drop_database(postgres_url, name)


def storage_env(
    database_url: str,
    node_urls: Sequence[str],
    broker: str,
    quota: str,
    tmp: Path,
    rpc_url: str = "",
) -> dict[str, str]:
    """The environment a storage server (in-process or a child process) runs with."""
    env = {
        "DATABASE_URL": database_url,
        **auth_env("storage"),
        "STORAGE_MASTER_KEY": STORAGE_MASTER_KEY,
        "METRICS_PORT": "0",
        "STORAGE_NODES": ",".join(node_urls),
        "BROKER_ADDRESS": broker,
        "QUOTA_ADDRESS": quota,
        "STORAGE_TEMP_DIR": str(tmp / f"storage-tmp-{uuid.uuid4().hex[:6]}"),
        "UPLOAD_POLL_SECONDS": "0.05",
        "UPLOAD_TX_TIMEOUT_SECONDS": "60",
        "UPLOAD_FINALITY_TIMEOUT_SECONDS": "60",
        # Scheduled verification off: tests that want it set a period.
        "VERIFY_PERIOD_SECONDS": "0",
        # Node breakers close again soon: outage tests retry once the node is back.
        "NODE_BREAKER_COOL_DOWN_SECONDS": "1",
    }
    if rpc_url:
        # Fees are then capped at the market's price (the max_fee sent to the broker).
        env["ZG_RPC_URL"] = rpc_url
    return env


@dataclass
class Deps:
    """The module's running broker and quota service."""

    broker: Broker
    quota: Quota
    channels: tuple[grpc.aio.Channel, ...]

    @property
    def broker_address(self) -> str:
        return f"127.0.0.1:{self.broker.server.port}"

    @property
    def quota_address(self) -> str:
        return f"127.0.0.1:{self.quota.server.port}"


@pytest.fixture(scope="module")
async def storage_deps(storage_db_url: str, running_devnet: Devnet) -> AsyncIterator[Deps]:
    """A broker (paying from a wallet of its own) and a quota server, shared by the module."""
    wallet = _funded_wallet(running_devnet)
    broker_pool = await create_pool(storage_db_url, search_path="broker", max_size=10)
    broker_running = await broker_server.start(
        broker_pool, broker_config(running_devnet, storage_db_url, wallet), "127.0.0.1:0"
    )
    quota_pool = await create_pool(storage_db_url, search_path="quota", max_size=10)
    clock = ManualClock()
    quota_running = await quota_server.start(
        quota_pool, quota_config(storage_db_url), "127.0.0.1:0", clock=clock
    )
    broker_channel = grpc.aio.insecure_channel(f"127.0.0.1:{broker_running.port}")
    quota_channel = grpc.aio.insecure_channel(f"127.0.0.1:{quota_running.port}")
    deps = Deps(
        Broker(
            broker_running,
            broker_service_pb2_grpc.BrokerServiceStub(broker_channel),
            broker_pool,
            wallet,
        ),
        Quota(
            quota_running,
            quota_service_pb2_grpc.QuotaServiceStub(quota_channel),
            quota_channel,
            clock,
            quota_pool,
        ),
        (broker_channel, quota_channel),
    )
    yield deps
    for channel in deps.channels:
        await channel.close()
    await quota_running.stop(grace=None)
    await broker_running.stop(grace=None)
    await quota_pool.close()
    await broker_pool.close()


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
    storage_deps: Deps,
    running_devnet: Devnet,
    tmp_path: Path,
) -> AsyncIterator[StartStorage]:
    """start(node_urls, **env overrides) -> a storage server paying through the real broker,
    with fees capped at the devnet market's price (ZG_RPC_URL set)."""
    started: list[tuple[Storage, grpc.aio.Channel]] = []

    async def start(node_urls: Sequence[str], **overrides: str) -> Storage:
        env = storage_env(
            storage_db_url,
            node_urls,
            storage_deps.broker_address,
            storage_deps.quota_address,
            tmp_path,
            running_devnet.state.rpc_url,
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
            storage_deps.broker,
            storage_deps.quota,
        )
        started.append((storage, channel))
        return storage

    yield start
    for storage, channel in started:
        await channel.close()
        await storage.server.stop(grace=None)
        await storage.pool.close()
