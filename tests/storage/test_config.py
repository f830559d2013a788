"""Storage's devnet profile: node, indexer and RPC URLs come from the devnet state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from services.storage.config import Config
from tests.storage.conftest import StartStorage
from tests.storage.helpers import content, create_namespace, get, namespace_name, put
from tests.support import STORAGE_MASTER_KEY, auth_env
from zerog_grpc.settings import ConfigError


def _state_file(devnet: Devnet, network: StorageNetwork, path: Path) -> Path:
    """The session devnet's state as `python -m devnet` writes it with the storage service."""
    state = json.loads(devnet.config.state_path.read_text())
    state.setdefault("services", {})["storage"] = network.info()
    path.write_text(json.dumps(state))
    return path


def _base(**more: str) -> dict[str, str]:
    return {
        "DATABASE_URL": "postgresql://x@localhost/x",
        **auth_env("storage"),
        "STORAGE_MASTER_KEY": STORAGE_MASTER_KEY,
        **more,
    }


def test_devnet_profile_reads_the_state_file(
    running_devnet: Devnet, storage_network: StorageNetwork, tmp_path: Path
) -> None:
    path = str(_state_file(running_devnet, storage_network, tmp_path / "state.json"))
    config = Config.from_env(_base(ZG_NETWORK="devnet", DEVNET_STATE=path))
    assert config.node_urls == tuple(n.url for n in storage_network.nodes)
    assert config.indexer_url == storage_network.indexer.url
    assert config.rpc_url == running_devnet.state.rpc_url
    # What is set wins over the state file.
    given = Config.from_env(
        _base(
            ZG_NETWORK="devnet",
            DEVNET_STATE=path,
            STORAGE_NODES="http://10.0.0.1:5678",
            ZG_RPC_URL="http://10.0.0.2:8545",
        )
    )
    assert given.node_urls == ("http://10.0.0.1:5678",)
    assert given.indexer_url == storage_network.indexer.url
    assert given.rpc_url == "http://10.0.0.2:8545"
    # Other networks never read a devnet file.
    with pytest.raises(ConfigError, match="STORAGE_NODES or STORAGE_INDEXER_URL"):
        Config.from_env(_base(ZG_NETWORK="testnet", DEVNET_STATE=path))


def test_devnet_profile_refuses_a_bad_state_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DEVNET_STATE"):
        Config.from_env(_base(ZG_NETWORK="devnet", DEVNET_STATE=str(tmp_path / "missing.json")))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="DEVNET_STATE"):
        Config.from_env(_base(ZG_NETWORK="devnet", DEVNET_STATE=str(tmp_path / "bad.json")))
    with pytest.raises(ConfigError, match="ZG_NETWORK"):
        Config.from_env(_base(ZG_NETWORK="moon", STORAGE_NODES="http://a:1"))


async def test_server_on_the_devnet_profile_alone_stores_and_reads(
    running_devnet: Devnet,
    storage_network: StorageNetwork,
    start_storage: StartStorage,
    tmp_path: Path,
) -> None:
    path = str(_state_file(running_devnet, storage_network, tmp_path / "state.json"))
    # No node, indexer or RPC variable: the state file supplies them all.
    storage = await start_storage(
        [], ZG_NETWORK="devnet", DEVNET_STATE=path, STORAGE_NODES="", ZG_RPC_URL=""
    )
    assert storage.config.indexer_url == storage_network.indexer.url
    assert storage.config.rpc_url == running_devnet.state.rpc_url
    ns = (await create_namespace(storage, namespace_name("profile"))).name
    data = content(4096)
    await put(storage, ns, "f", data)
    _, got = await get(storage, ns, "f")
    assert got == data
