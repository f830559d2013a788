"""A migrated broker database per test (cloned from a template) and real broker servers on the
session devnet, each with its own fresh wallet."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import grpc.aio
import pytest
from eth_account.signers.local import LocalAccount

from devnet import Devnet
from services.broker import server
from services.broker.config import Config
from services.broker.server import BrokerServer
from tests.databases import database_fixtures
from tests.support import auth_env, auth_metadata
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_db import create_pool

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub

MIGRATIONS = Path(__file__).parents[2] / "services" / "broker" / "migrations"


broker_template, broker_db_url = database_fixtures("broker", MIGRATIONS)


def broker_config(
    devnet: Devnet, database_url: str, account: LocalAccount, **overrides: str
) -> Config:
    env = {
        "DATABASE_URL": database_url,
        **auth_env("broker"),
        "ZG_NETWORK": "devnet",
        "ZG_RPC_URL": devnet.state.rpc_url,
        "DEVNET_STATE": str(devnet.config.state_path),
        "ZG_PRIVATE_KEY": "0x" + bytes(account.key).hex(),
        "METRICS_PORT": "0",
        "SETTLEMENT_INTERVAL_SECONDS": "3600",
        **overrides,
    }
    return Config.from_env(env)


@dataclass
class Broker:
    """A running broker and a stub calling it as the admin service."""

    server: BrokerServer
    stub: BrokerServiceAsyncStub
    pool: asyncpg.Pool
    account: LocalAccount

    def md(self, service: str = "admin") -> tuple[tuple[str, str], ...]:
        return auth_metadata(service, "broker")


StartBroker = Callable[..., Awaitable[Broker]]


@pytest.fixture
async def start_broker(
    running_devnet: Devnet, broker_db_url: str, funded_account: LocalAccount
) -> AsyncIterator[StartBroker]:
    started: list[tuple[Broker, grpc.aio.Channel]] = []

    async def start(account: LocalAccount = funded_account, **overrides: str) -> Broker:
        pool = await create_pool(broker_db_url, search_path="broker", max_size=20)
        config = broker_config(running_devnet, broker_db_url, account, **overrides)
        running = await server.start(pool, config, "127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        broker = Broker(running, broker_service_pb2_grpc.BrokerServiceStub(channel), pool, account)
        started.append((broker, channel))
        return broker

    yield start
    for broker, channel in started:
        await channel.close()
        await broker.server.stop(grace=None)
        await broker.pool.close()


@pytest.fixture
async def broker(start_broker: StartBroker) -> Broker:
    return await start_broker()
