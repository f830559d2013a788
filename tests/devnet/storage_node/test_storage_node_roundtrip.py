"""Devnet storage node: a file paid on the devnet Flow uploads, finalizes, downloads with proofs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from tests.devnet.storage_node.storage_node_helpers import (
    download_verified,
    eventually,
    random_file,
    raw_call,
    submit,
    synced_info,
)
from zerog_storage import SEGMENT_SIZE, FileInfo, FileMerkleTree, IndexerClient, StorageNodeClient


@pytest.fixture
async def client(storage_network: StorageNetwork) -> AsyncIterator[StorageNodeClient]:
    async with StorageNodeClient(storage_network.nodes[0].url) as c:
        yield c


async def test_status_names_the_devnet_flow_and_chain(
    client: StorageNodeClient, running_devnet: Devnet
) -> None:
    status = await client.get_status()
    assert status.network_identity is not None
    assert status.network_identity.flow_address == running_devnet.state.contracts.flow
    assert status.network_identity.chain_id == running_devnet.state.chain_id
    shard = await client.get_shard_config()
    assert (shard.shard_id, shard.num_shard) == (0, 1)


async def test_file_uploads_finalizes_and_downloads_with_proofs(
    client: StorageNodeClient,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    state = running_devnet.state
    data = random_file(2 * SEGMENT_SIZE + 1000)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)

    info = await synced_info(client, sent.root)
    assert (info.finalized, info.uploaded_seg_num) == (False, 0)
    assert info.tx.size == len(data)
    assert info.tx.merkle_nodes == tuple(sent.tree.submission().merkle_nodes())
    assert await client.get_file_info_by_tx_seq(info.tx.seq) == info
    assert await client.download_segment_with_proof(sent.root, 0) is None

    await client.upload_segments_by_tx_seq(sent.segments(), info.tx.seq)

    info = await synced_info(client, sent.root)
    assert (info.finalized, info.uploaded_seg_num) == (True, 3)
    assert await client.check_file_finalized(sent.root) is True
    assert await client.check_file_finalized(info.tx.seq) is True
    assert await download_verified(client, sent.root, len(data)) == data
    # Chunk ranges are file-relative, may straddle segments and come back as whole chunks.
    ranged = await client.download_segment(info.tx.seq, 1000, 1030)
    assert ranged == data[1000 * 256 : 1030 * 256]
    last = await client.download_segment(sent.root, 2048, 2052)
    assert last == data[2048 * 256 :] + bytes(4 * 256 - 1000)


async def test_segments_sent_before_the_tx_are_cached_then_stored(
    client: StorageNodeClient,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    """Go's fast mode: upload by root first; the node caches small files until the tx lands."""
    data = random_file(5000)
    tree = FileMerkleTree.from_bytes(data)
    await client.upload_segments(list(tree.segments_from_bytes(data)))
    assert await client.get_file_info(tree.root) is None

    state = running_devnet.state
    submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    info = await eventually(lambda: _finalized(client, tree.root))
    assert info.uploaded_seg_num == 1
    assert await download_verified(client, tree.root, len(data)) == data


async def _finalized(client: StorageNodeClient, root: bytes) -> FileInfo | None:
    info = await client.get_file_info(root, True)
    return info if info is not None and info.finalized else None


async def test_a_second_tx_with_the_same_root_is_filled_from_the_first(
    client: StorageNodeClient,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    state = running_devnet.state
    data = random_file(300)
    first = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    info = await synced_info(client, first.root)
    await client.upload_segments_by_tx_seq(first.segments(), info.tx.seq)
    submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)

    second = await eventually(lambda: client.get_file_info_by_tx_seq(info.tx.seq + 1))
    assert second.tx.data_merkle_root == first.root
    assert second.finalized
    assert await client.download_segment(info.tx.seq + 1, 0, 2) == data + bytes(212)


async def test_indexer_lists_the_node_and_where_a_file_is(
    client: StorageNodeClient,
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    state = running_devnet.state
    # Bytes no other test uploads: the shared node would already hold a file with the same root.
    unique = os.urandom(32)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, unique)
    info = await synced_info(client, sent.root)
    async with IndexerClient(storage_network.indexer.url) as indexer:
        nodes = await indexer.get_sharded_nodes()
        assert [(n.url, n.config.num_shard) for n in nodes.trusted] == [(client.url, 1)]
        assert await indexer.get_file_locations(sent.root) is None
        await client.upload_segments_by_tx_seq(sent.segments(), info.tx.seq)
        located = await indexer.get_file_locations(sent.root)
    assert located is not None
    assert [n.url for n in located] == [client.url]


def test_batches_and_unknown_methods_answer_like_jsonrpsee(storage_network: StorageNetwork) -> None:
    url = storage_network.nodes[0].url
    answers = raw_call(
        url,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "zgs_getShardConfig", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "zgs_noSuchMethod", "params": []},
            {"jsonrpc": "2.0", "id": 3, "method": "zgs_getFileInfo", "params": ["0x12", False]},
        ],
    )
    assert answers[0] == {"jsonrpc": "2.0", "id": 1, "result": {"shardId": 0, "numShard": 1}}
    assert answers[1]["error"] == {"code": -32601, "message": "Method not found"}
    assert answers[2]["error"]["code"] == -32602
    assert answers[2]["error"]["message"] == "Invalid params"
    parse = httpx.post(url, content="{not json", headers={"content-type": "application/json"})
    assert parse.json()["error"] == {"code": -32700, "message": "Parse error"}
