"""Any subset of the five services, in-process through their production server.start(), on one
PostgreSQL database per test module (every service's migrations in its own schema) and the
session devnet. Configs come from each service's tests/<svc>/conftest.py helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc.aio
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from prometheus_client import CollectorRegistry
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from devnet.provider import ProviderProcess
from tests.broker.conftest import Broker, broker_config
from tests.databases import create_database, drop_database, with_database
from tests.quota.conftest import quota_config
from tests.support import auth_env, auth_metadata
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_db import create_pool, migrate

ROOT = Path(__file__).parents[1]
SERVICES = ("quota", "broker", "inference", "storage", "scheduler")
# Started first, in this order, when a service that calls them is asked for.
NEEDS: dict[str, tuple[str, ...]] = {
    "quota": (),
    "broker": (),
    "inference": ("quota", "broker"),
    "storage": ("quota", "broker"),
    "scheduler": (),
}


async def create_stack_database(postgres_url: str) -> str:
    """A new database with every service's migrations applied; returns its DSN."""
    url = with_database(postgres_url, await create_database(postgres_url, "stack"))
    for service in SERVICES:
        await migrate(url, service, ROOT / "services" / service / "migrations")
    return url


def funded_wallet(w3: Web3) -> LocalAccount:
    """A new account with 1000 A0GI on the devnet: the broker's platform wallet."""
    account: LocalAccount = Account.create()
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)])
    return account


@dataclass
class Stack:
    """Running services on one database: servers, configs, pools and a channel to each."""

    database_url: str
    devnet: Devnet
    wallet: LocalAccount
    tmp: Path
    servers: dict[str, Any] = field(default_factory=dict)
    configs: dict[str, Any] = field(default_factory=dict)
    pools: dict[str, asyncpg.Pool] = field(default_factory=dict)
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    # Each service's metrics registry: what its /metrics would serve.
    registries: dict[str, CollectorRegistry] = field(default_factory=dict)

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service].port}"

    @staticmethod
    def md(service: str, caller: str = "admin", user: str = "") -> tuple[tuple[str, str], ...]:
        """Metadata with a valid token from `caller` to `service`."""
        return auth_metadata(caller, service, user)

    def broker(self) -> Broker:
        """The broker as tests/broker's helpers expect it."""
        stub = broker_service_pb2_grpc.BrokerServiceStub(self.channels["broker"])
        return Broker(self.servers["broker"], stub, self.pools["broker"], self.wallet)

    async def start(
        self,
        *services: str,
        nodes: Sequence[str] = (),
        providers: Sequence[ProviderProcess] = (),
        env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Stack:
        """Start `services` (and what they call) unless already running; `env` overrides per
        service; `providers` get a funded ledger and acknowledged signers at the broker."""
        env = env or {}
        for service in services:
            for needed in (*NEEDS[service], service):
                if needed not in self.servers:
                    await self._start_one(needed, dict(env.get(needed, {})), nodes)
        if providers:
            from tests.inference.conftest import fund

            await fund(self.broker(), list(providers))
        return self

    async def _start_one(
        self, service: str, overrides: dict[str, str], nodes: Sequence[str]
    ) -> None:
        # Imported here, so a module needing only some services does not import the others.
        pool = await create_pool(self.database_url, search_path=service, max_size=10)
        self.pools[service] = pool
        address = "127.0.0.1:0"
        registry = self.registries[service] = CollectorRegistry()
        if service == "quota":
            from services.quota import server as quota_server

            config: Any = quota_config(self.database_url, **overrides)
            running: Any = await quota_server.start(pool, config, address, registry)
        elif service == "broker":
            from services.broker import server as broker_server

            config = broker_config(self.devnet, self.database_url, self.wallet, **overrides)
            running = await broker_server.start(pool, config, address, registry)
        elif service == "inference":
            from services.inference import server as inference_server
            from services.inference.config import Config as InferenceConfig

            config = InferenceConfig.from_env({**self._inference_env(), **overrides})
            running = await inference_server.start(pool, config, address, registry)
        elif service == "storage":
            from services.storage import server as storage_server
            from services.storage.config import Config as StorageConfig
            from tests.storage.conftest import storage_env

            base = storage_env(
                self.database_url,
                nodes,
                self.address("broker"),
                self.address("quota"),
                self.tmp,
            )
            config = StorageConfig.from_env({**base, **overrides})
            running = await storage_server.start(pool, config, address, registry)
        else:
            from services.scheduler import server as scheduler_server
            from tests.scheduler.conftest import scheduler_config

            config = scheduler_config(self.database_url, **overrides)
            running = await scheduler_server.start(pool, config, address, registry, run_loop=False)
        self.servers[service] = running
        self.configs[service] = config
        self.channels[service] = grpc.aio.insecure_channel(
            self.address(service),
            options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)],
        )

    def _inference_env(self) -> dict[str, str]:
        # As tests/inference/conftest.py's inference_config, on this stack's quota and broker.
        return {
            "DATABASE_URL": self.database_url,
            **auth_env("inference"),
            "METRICS_PORT": "0",
            "QUOTA_ADDRESS": self.address("quota"),
            "BROKER_ADDRESS": self.address("broker"),
            "RETRY_BASE_SECONDS": "0.01",
            "RETRY_CAP_SECONDS": "0.05",
            "PROVIDER_CACHE_SECONDS": "0",
            "HTTP_PORT": "0",
        }

    async def stop(self, service: str | None = None) -> None:
        """Stop one service (or all, callers of others first) and close its pool and channel."""
        for name in [service] if service else list(reversed(list(self.servers))):
            await self.channels.pop(name).close()
            await self.servers.pop(name).stop(grace=None)
            await self.pools.pop(name).close()
            self.configs.pop(name)
            self.registries.pop(name)


StartStack = Callable[..., Awaitable[Stack]]


@pytest.fixture(scope="module")
async def stack_db_url(postgres_url: str) -> AsyncIterator[str]:
    """One database per module holding all five services' schemas."""
    url = await create_stack_database(postgres_url)
    yield url
    await drop_database(postgres_url, urlsplit(url).path[1:])


@pytest.fixture(scope="module")
async def stack(
    stack_db_url: str,
    running_devnet: Devnet,
    devnet_w3: Web3,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """The module's stack; tests call `await stack.start("inference", ...)` for what they need."""
    running = Stack(
        stack_db_url, running_devnet, funded_wallet(devnet_w3), tmp_path_factory.mktemp("stack")
    )
    yield running
    await running.stop()
