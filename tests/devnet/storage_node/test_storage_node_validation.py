"""Devnet storage node refusals: each check of the real node, with its code and message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork, StorageNodeProcess
from tests.devnet.storage_node.storage_node_helpers import (
    Submitted,
    eventually,
    random_file,
    rpc_error,
    submit,
    synced_info,
)
from zerog_storage import (
    SEGMENT_SIZE,
    AlreadyFinalized,
    FileMerkleTree,
    SegmentAlreadyUploaded,
    SegmentProof,
    SegmentRejected,
    StorageNodeClient,
    TooManyWrites,
)


@dataclass
class Pending:
    """A file paid on chain and seen by the node, not uploaded yet."""

    client: StorageNodeClient
    sent: Submitted
    seq: int


@pytest.fixture
async def pending(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> AsyncIterator[Pending]:
    state = running_devnet.state
    data = random_file(2 * SEGMENT_SIZE + 300)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    async with StorageNodeClient(storage_network.nodes[0].url) as client:
        info = await synced_info(client, sent.root)
        yield Pending(client, sent, info.tx.seq)


async def test_tampered_segment_is_refused(pending: Pending) -> None:
    segment = pending.sent.segments()[1]
    data = bytearray(segment.data)
    data[7] ^= 1
    e = await rpc_error(
        pending.client.upload_segments_by_tx_seq([replace(segment, data=bytes(data))], pending.seq)
    )
    assert isinstance(e, SegmentRejected)
    assert e.code == -32000
    assert e.message.startswith("data hash mismatch: leaf_hash=0x")


async def test_wrong_proof_is_refused(pending: Pending) -> None:
    segment = pending.sent.segments()[0]
    lemma = list(segment.proof.lemma)
    lemma[1] = bytes(32)
    bad = replace(segment, proof=SegmentProof(tuple(lemma), segment.proof.path))
    e = await rpc_error(pending.client.upload_segments_by_tx_seq([bad], pending.seq))
    assert (e.code, e.message, e.data) == (-32602, "Invalid params: proof", "validation failed")


async def test_proof_for_another_position_is_refused(pending: Pending) -> None:
    segments = pending.sent.segments()
    moved = replace(segments[0], proof=segments[1].proof)
    e = await rpc_error(pending.client.upload_segments_by_tx_seq([moved], pending.seq))
    assert (e.code, e.message) == (-32000, "wrong position: proof_pos=1 provided=0")


async def test_wrong_file_size_is_refused(pending: Pending) -> None:
    segment = replace(pending.sent.segments()[0], file_size=len(pending.sent.data) + 1)
    e = await rpc_error(pending.client.upload_segments_by_tx_seq([segment], pending.seq))
    assert (e.code, e.message, e.data) == (
        -32602,
        "Invalid params: file_size",
        "segment file size not matched with tx file size",
    )


async def test_segment_of_another_root_for_a_tx_seq_is_refused(pending: Pending) -> None:
    other = random_file(600)
    tree = FileMerkleTree.from_bytes(other)
    segment = next(tree.segments_from_bytes(other))
    e = await rpc_error(pending.client.upload_segments_by_tx_seq([segment], pending.seq))
    assert (e.code, e.message, e.data) == (
        -32603,
        "Internal error",
        "data root and tx seq not match",
    )


async def test_large_file_for_an_unknown_root_is_refused(pending: Pending) -> None:
    """A root no tx has named yet is only cached for files up to 10 MiB."""
    segment = replace(pending.sent.segments()[0], root=bytes(range(32)), file_size=11 << 20)
    e = await rpc_error(pending.client.upload_segments([segment]))
    assert (e.code, e.message, e.data) == (
        -32602,
        "Invalid params: file_size",
        "caching of large file when tx is unavailable is not supported",
    )


async def test_index_out_of_range_is_refused(pending: Pending) -> None:
    segment = replace(pending.sent.segments()[2], index=3)
    e = await rpc_error(pending.client.upload_segments_by_tx_seq([segment], pending.seq))
    assert (e.code, e.message, e.data) == (-32602, "Invalid params: index", "index out of bound")


async def test_empty_and_ragged_data_are_refused(pending: Pending) -> None:
    segment = pending.sent.segments()[2]
    empty = await rpc_error(pending.client.upload_segments([replace(segment, data=b"")]))
    assert (empty.code, empty.message) == (-32000, "data is empty")
    ragged = await rpc_error(pending.client.upload_segments([replace(segment, data=b"x" * 300)]))
    assert (ragged.code, ragged.message) == (-32000, "invalid data length")
    short = await rpc_error(
        pending.client.upload_segments_by_tx_seq([replace(segment, data=bytes(256))], pending.seq)
    )
    assert (short.code, short.message, short.data) == (
        -32602,
        "Invalid params: data",
        "invalid data length",
    )


async def test_duplicates_refused_by_root_and_skipped_by_tx_seq(pending: Pending) -> None:
    first = pending.sent.segments()[0]
    await pending.client.upload_segments_by_tx_seq([first], pending.seq)
    e = await rpc_error(pending.client.upload_segments([first]))
    assert isinstance(e, SegmentAlreadyUploaded)
    assert e.message == "segment has already been uploaded or is being uploaded"
    # By tx seq the node skips what it has, so a retried batch completes the file.
    await pending.client.upload_segments_by_tx_seq(pending.sent.segments(), pending.seq)
    info = await pending.client.get_file_info(pending.sent.root)
    assert info is not None
    assert info.finalized


async def test_finalized_file_refuses_more_segments(pending: Pending) -> None:
    await pending.client.upload_segments_by_tx_seq(pending.sent.segments(), pending.seq)
    e = await rpc_error(
        pending.client.upload_segments_by_tx_seq(pending.sent.segments()[:1], pending.seq)
    )
    assert isinstance(e, AlreadyFinalized)
    assert (e.code, e.message, e.data) == (
        -32602,
        "Invalid params: root",
        "already uploaded and finalized",
    )


async def test_download_ranges_are_checked(pending: Pending) -> None:
    client, root = pending.client, pending.sent.root
    await client.upload_segments_by_tx_seq(pending.sent.segments(), pending.seq)
    bad = await rpc_error(client.download_segment(root, 5, 5))
    assert (bad.code, bad.message, bad.data) == (
        -32602,
        "Invalid params: end_index",
        "invalid chunk index",
    )
    wide = await rpc_error(client.download_segment(root, 0, 1025))
    assert (wide.message, wide.data) == ("Invalid params: end_index", "exceeds maximum chunks 1024")
    # The file has 2050 chunks; the node's message names the start index (sic).
    past = await rpc_error(client.download_segment(root, 2050, 2051))
    size = 2 * SEGMENT_SIZE + 300
    assert past.data == f"end entry index exceeds tx size: end=2050 tx size={size}"
    index = await rpc_error(client.download_segment_with_proof(root, 3))
    assert (index.message, index.data) == ("Invalid params: index", "index out of bound")
    assert await client.download_segment(bytes(32), 0, 1) is None
    assert await client.download_segment_with_proof(pending.seq + 10_000, 0) is None
    assert await client.get_file_info(bytes(32)) is None


async def test_too_many_concurrent_writes(
    start_storage_node: Callable[..., StorageNodeProcess],
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    node = start_storage_node(max_writes=2)
    state = running_devnet.state
    data = random_file(3 * SEGMENT_SIZE)
    sent = submit(devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, data)
    segments = sent.segments()
    async with StorageNodeClient(node.url) as client:
        seq = (await synced_info(client, sent.root)).tx.seq
        node.set_faults(hold_writes=True)
        held = [
            asyncio.create_task(client.upload_segments_by_tx_seq([s], seq)) for s in segments[:2]
        ]
        await eventually(lambda: _in_flight(node, 2))
        e = await rpc_error(client.upload_segments_by_tx_seq(segments[2:], seq))
        assert isinstance(e, TooManyWrites)
        assert (e.code, e.message) == (-32000, "too many data writing: 2")
        node.set_faults(hold_writes=False)
        await asyncio.gather(*held)
        await client.upload_segments_by_tx_seq(segments[2:], seq)
        info = await client.get_file_info(sent.root)
    assert info is not None
    assert info.finalized


async def _in_flight(node: StorageNodeProcess, count: int) -> bool:
    return bool(node.admin("admin_getFaults")["writesInFlight"] == count)
