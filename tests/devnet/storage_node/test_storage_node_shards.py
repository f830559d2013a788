"""Devnet storage nodes with different shards, the indexer over them, and the fault knobs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import IndexerProcess, StorageNodeProcess
from tests.devnet.devnet_helpers import Storage
from tests.devnet.storage_node.storage_node_helpers import (
    download_verified,
    eventually,
    random_file,
    submit,
    synced_info,
)
from zerog_storage import (
    SEGMENT_CHUNKS,
    SEGMENT_SIZE,
    IndexerClient,
    InvalidProof,
    ProofFailure,
    RpcTransportError,
    ShardConfig,
    StorageNodeClient,
    segments_for_shard,
    verify_segment_with_proof,
)


async def test_two_shards_split_a_file_and_the_indexer_knows_both(
    start_storage_node: Callable[..., StorageNodeProcess],
    start_storage_indexer: Callable[[list[str]], IndexerProcess],
    storage: Storage,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    """A fresh Flow, so the file's place (and so each shard's segments) is known in advance."""
    flow = storage.flow.address
    even = start_storage_node(shard_id=0, num_shard=2, flow=flow)
    odd = start_storage_node(shard_id=1, num_shard=2, flow=flow)
    indexer = start_storage_indexer([even.url, odd.url])
    data = random_file(4 * SEGMENT_SIZE)
    sent = submit(devnet_w3, funded_account, flow, storage.price, data)
    segments = sent.segments()

    async with StorageNodeClient(even.url) as a, StorageNodeClient(odd.url) as b:
        info = await synced_info(a, sent.root)
        assert info.tx.start_entry_index == 4 * SEGMENT_CHUNKS  # height 12 aligns to 4096
        for client, node in ((a, even), (b, odd)):
            shard = ShardConfig(node.options.shard_id, 2)
            assert await client.get_shard_config() == shard
            mine = segments_for_shard(info.tx.start_entry_index, 4, shard)
            assert mine == [shard.shard_id, shard.shard_id + 2]
            # Each node syncs the Submit log on its own: wait for this one too.
            await synced_info(client, sent.root)
            await client.upload_segments_by_tx_seq([segments[i] for i in mine], info.tx.seq)
            done = await client.get_file_info(sent.root)
            assert done is not None
            assert done.finalized
        # Each node serves its own shard only.
        assert await a.download_segment_with_proof(sent.root, 1) is None
        assert await b.download_segment_with_proof(sent.root, 0) is None
        pieces = [
            await (a if i % 2 == 0 else b).download_segment_with_proof(sent.root, i)
            for i in range(4)
        ]
    joined = b""
    for piece in pieces:
        assert piece is not None
        verify_segment_with_proof(piece, sent.root, len(data))
        joined += piece.data
    assert joined == data

    async with IndexerClient(indexer.url) as idx:
        nodes = await idx.get_sharded_nodes()
        assert {(n.url, n.config.shard_id, n.config.num_shard) for n in nodes.trusted} == {
            (even.url, 0, 2),
            (odd.url, 1, 2),
        }
        located = await idx.get_file_locations(sent.root)
    assert located is not None
    assert {n.url for n in located} == {even.url, odd.url}


async def test_corrupted_segment_fails_the_downloaders_proof_check(
    start_storage_node: Callable[..., StorageNodeProcess],
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    node = start_storage_node()
    state = running_devnet.state
    data = random_file(2 * SEGMENT_SIZE)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    async with StorageNodeClient(node.url) as client:
        info = await synced_info(client, sent.root)
        await client.upload_segments_by_tx_seq(sent.segments(), info.tx.seq)
        assert node.corrupt_segment(sent.root, 1)
        intact = await client.download_segment_with_proof(sent.root, 0)
        corrupted = await client.download_segment_with_proof(sent.root, 1)
    assert intact is not None
    assert corrupted is not None
    verify_segment_with_proof(intact, sent.root, len(data))
    with pytest.raises(InvalidProof) as refused:
        verify_segment_with_proof(corrupted, sent.root, len(data))
    assert refused.value.reason is ProofFailure.DATA_HASH


async def test_lost_file_and_outage(
    start_storage_node: Callable[..., StorageNodeProcess],
    start_storage_indexer: Callable[[list[str]], IndexerProcess],
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    node = start_storage_node()
    indexer = start_storage_indexer([node.url])
    state = running_devnet.state
    flow, price = state.contracts.flow, state.price_per_sector
    lost = submit(devnet_w3, funded_account, flow, price, random_file(3000))
    forgotten = submit(devnet_w3, funded_account, flow, price, random_file(4000))
    async with StorageNodeClient(node.url) as client, IndexerClient(indexer.url) as idx:
        for sent in (lost, forgotten):
            info = await synced_info(client, sent.root)
            await client.upload_segments_by_tx_seq(sent.segments(), info.tx.seq)
            assert await download_verified(client, sent.root, len(sent.data)) == sent.data

        # Lost data: the node still claims the file, but has nothing to serve.
        assert node.lose_file(lost.root)
        assert await client.download_segment_with_proof(lost.root, 0) is None
        assert await client.download_segment(lost.root, 0, 1) is None
        # Forgotten: as if the node never synced the tx; the indexer stops listing it.
        assert node.lose_file(forgotten.root, forget_tx=True)
        assert await client.get_file_info(forgotten.root) is None
        assert await idx.get_file_locations(forgotten.root) is None

        node.set_faults(outage=True)
        with pytest.raises(RpcTransportError, match="HTTP 503"):
            await client.get_status()
        assert await idx.get_file_locations(lost.root) is None
        node.set_faults(outage=False)
        located = await eventually(lambda: idx.get_file_locations(lost.root))
        assert [n.url for n in located] == [node.url]
