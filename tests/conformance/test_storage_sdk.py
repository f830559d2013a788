"""Conformance: the official 0G storage TS SDK (unchanged) uploads and downloads on the devnet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import Devnet
from devnet.paths import REPO_ROOT
from devnet.storage_node import NodeOptions, StorageNetwork, start_storage_network
from tests.devnet.storage_node.storage_node_helpers import (
    download_verified,
    submit,
    synced_info,
)
from zerog_storage import SEGMENT_SIZE, StorageNodeClient

SCRIPT = Path(__file__).with_name("storage_sdk_roundtrip.mjs")

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 20")


def _sdk(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, f"SDK script printed no result:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(results[-1].removeprefix("RESULT "))
    assert "error" not in result, f"{result['error']}\n{done.stdout[-3000:]}"
    assert done.returncode == 0
    return result


def _key(account: LocalAccount) -> str:
    return "0x" + bytes(account.key).hex()


async def test_sdk_uploads_with_its_own_flow_submit_and_downloads_identically(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    funded_account: LocalAccount,
    tmp_path: Path,
) -> None:
    data = os.urandom(SEGMENT_SIZE + 12_345)
    source, out = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(data)
    result = _sdk(
        "upload",
        storage_network.indexer.url,
        running_devnet.state.rpc_url,
        _key(funded_account),
        str(source),
        str(out),
    )
    assert out.read_bytes() == data
    # What the SDK stored is what our client pieces read back, every segment proof-checked.
    root = bytes.fromhex(result["root"][2:])
    assert result["rootHash"] == result["root"]
    async with StorageNodeClient(storage_network.nodes[0].url) as client:
        info = await client.get_file_info(root)
        assert info is not None
        assert (info.finalized, info.tx.seq, info.tx.size) == (True, result["txSeq"], len(data))
        assert await download_verified(client, root, len(data)) == data


async def test_sdk_downloads_a_file_uploaded_by_our_client_pieces(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
    tmp_path: Path,
) -> None:
    state = running_devnet.state
    data = os.urandom(3 * SEGMENT_SIZE - 77)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    async with StorageNodeClient(storage_network.nodes[0].url) as client:
        info = await synced_info(client, sent.root)
        await client.upload_segments_by_tx_seq(sent.segments(), info.tx.seq)
    out = tmp_path / "out.bin"
    root = "0x" + sent.root.hex()
    _sdk("download", storage_network.indexer.url, state.rpc_url, "", "", str(out), root)
    assert out.read_bytes() == data


async def test_sdk_spreads_a_file_over_two_shards_and_reads_it_back(
    running_devnet: Devnet, funded_account: LocalAccount, tmp_path: Path
) -> None:
    """The SDK covers both shards from the indexer's list, uploads each node its segments,
    waits for both to finalize, and downloads each segment from the node holding it."""
    shards = (NodeOptions(shard_id=0, num_shard=2), NodeOptions(shard_id=1, num_shard=2))
    network = start_storage_network(running_devnet.state, shards, tmp_path / "network")
    try:
        data = os.urandom(3 * SEGMENT_SIZE + 1)
        source, out = tmp_path / "in.bin", tmp_path / "out.bin"
        source.write_bytes(data)
        result = _sdk(
            "upload",
            network.indexer.url,
            running_devnet.state.rpc_url,
            _key(funded_account),
            str(source),
            str(out),
        )
        assert out.read_bytes() == data
        root = bytes.fromhex(result["root"][2:])
        held = []
        first = -1
        for node in network.nodes:
            async with StorageNodeClient(node.url) as client:
                info = await client.get_file_info(root)
                assert info is not None
                assert info.finalized
                first = info.tx.start_entry_index // 1024
                held.append(
                    [await client.download_segment(root, i * 1024, i * 1024 + 1) for i in range(4)]
                )
        # Each node holds only the segments of its shard, and together they hold the file.
        for shard, segments in enumerate(held):
            assert [s is not None for s in segments] == [(first + i) % 2 == shard for i in range(4)]
    finally:
        network.stop()
