"""Fixtures every test suite shares: a throwaway PostgreSQL with fresh databases, and one devnet."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet, DevnetConfig, storage_node
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_provider
from tests import hangs
from zerog_db.cluster import TempCluster


def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """A test past the timeout (pyproject) dumps its threads and tasks to stderr and fails."""
    if settings.method != "thread":
        return None
    hangs.set_timer(item, float(settings.timeout))
    return True


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """DSN of a PostgreSQL server with superuser rights: TEST_DATABASE_URL, or a throwaway one."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with TempCluster() as cluster:
        yield cluster.dsn


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
async def fresh_db_url(postgres_url: str) -> AsyncIterator[str]:
    """DSN of a new, empty database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    yield _with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def silent_rpc() -> AsyncIterator[str]:
    """The URL of a server that accepts connections, reads the requests and never replies."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="session")
def running_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A devnet (anvil + deployed contracts + funded wallets) shared by the whole session.

    Its state file is in a temporary directory (running_devnet.config.state_path), so it never
    touches devnet/state/devnet.json of a developer's `python -m devnet`.
    """
    state_path = tmp_path_factory.mktemp("devnet") / "devnet.json"
    with Devnet.start(DevnetConfig(state_path=state_path)) as net:
        yield net


@pytest.fixture(scope="session")
def devnet_w3(running_devnet: Devnet) -> Web3:
    return running_devnet.web3()


@pytest.fixture(scope="session")
def deployer(running_devnet: Devnet, devnet_w3: Web3) -> Transactor:
    """Sends as the contracts' owner. One instance per session, as it tracks the nonce."""
    return Transactor(devnet_w3, running_devnet.state.deployer.account())


@pytest.fixture
def funded_account(devnet_w3: Web3) -> LocalAccount:
    """A brand-new account holding 1000 A0GI, so tests never share chain state by accident."""
    account: LocalAccount = Account.create()
    devnet_w3.provider.make_request(
        RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)]
    )
    return account


@pytest.fixture(scope="session")
def devnet_provider(running_devnet: Devnet, deployer: Transactor) -> Iterator[ProviderProcess]:
    """One devnet provider for the session (registered, staked, TEE signer acknowledged).

    Settles only on demand (provider.settle()). Tests that change knobs should use
    start_provider instead, so they do not disturb others.
    """
    provider = launch_provider(running_devnet.state, ProviderSpec(settle_interval=0), deployer)
    yield provider
    provider.stop()


@pytest.fixture
def start_provider(
    running_devnet: Devnet, deployer: Transactor
) -> Iterator[Callable[..., ProviderProcess]]:
    """Factory: start_provider(knobs={...}, model=..., settle_interval=0) -> a new provider,
    stopped after the test. Knob names: devnet.provider.Knobs."""
    started: list[ProviderProcess] = []

    def start(**options: Any) -> ProviderProcess:
        options.setdefault("settle_interval", 0)
        provider = launch_provider(running_devnet.state, ProviderSpec(**options), deployer)
        started.append(provider)
        return provider

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture(scope="session")
def storage_network(running_devnet: Devnet) -> Iterator[storage_node.StorageNetwork]:
    """One storage node (every shard) and an indexer following the devnet's Flow, shared by the
    session. Tests that turn knobs or lose data should use start_storage_node instead."""
    network = storage_node.start_storage_network(running_devnet.state)
    yield network
    network.stop()


@pytest.fixture
def start_storage_node(
    running_devnet: Devnet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., storage_node.StorageNodeProcess]]:
    """Factory: start_storage_node(shard_id=0, num_shard=1, flow=None, max_writes=16) -> a new
    node with its own data directory (flow None: the devnet's Flow), stopped after the test.
    Knobs: node.set_faults(outage=, hold_writes=), corrupt_segment, lose_file, restart()."""
    started: list[storage_node.StorageNodeProcess] = []

    def start(**options: Any) -> storage_node.StorageNodeProcess:
        data_dir = tmp_path_factory.mktemp("storage-node")
        node = storage_node.start_storage_node(
            running_devnet.state, data_dir, storage_node.NodeOptions(**options)
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def start_storage_indexer(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[list[str]], storage_node.IndexerProcess]]:
    """Factory: start_storage_indexer([node urls]) -> an indexer trusting them, stopped after."""
    started: list[storage_node.IndexerProcess] = []

    def start(node_urls: list[str]) -> storage_node.IndexerProcess:
        log_path = tmp_path_factory.mktemp("storage-indexer") / "indexer.log"
        indexer = storage_node.start_indexer(node_urls, log_path)
        started.append(indexer)
        return indexer

    yield start
    for indexer in started:
        indexer.stop()
