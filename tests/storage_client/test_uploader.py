"""Uploader with a submitter paying real devnet transactions: one Submit per file, ever."""

from __future__ import annotations

import os

import pytest
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from tests.storage_client.conftest import FAST, ChainSubmitter, submit_events
from zerog_storage import (
    SEGMENT_SIZE,
    Downloader,
    FeeReader,
    FileMerkleTree,
    JsonRpcClient,
    NodeSet,
    SubmitResult,
    Uploader,
)


async def test_upload_pays_once_on_chain_and_downloads_verified(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    submitter: ChainSubmitter,
) -> None:
    data = os.urandom(2 * SEGMENT_SIZE + 99)
    identity = FileMerkleTree.from_bytes(data).submission().identity
    flow = running_devnet.state.contracts.flow
    nodes = NodeSet([n.url for n in storage_network.nodes])
    try:
        uploader = Uploader(nodes, submitter, FAST)
        first = await uploader.upload(data, request_id="client-1")
        assert first.submission is not None and not first.submission.replayed
        assert first.tx_seq == first.submission.tx_seq
        assert submit_events(devnet_w3, flow, identity) == 1
        assert await Downloader(nodes).download(first.root, len(data), first.tx_seq) == data

        # A retry, and a new request for the same bytes: the nodes know the root, nobody pays.
        again = await uploader.upload(data, request_id="client-1")
        other = await uploader.upload(data, request_id="client-2")
        assert again.submission is None and other.submission is None
        assert again.tx_seq == other.tx_seq == first.tx_seq
        assert (submitter.calls, submitter.sent) == (1, 1)
        assert submit_events(devnet_w3, flow, identity) == 1
    finally:
        await nodes.aclose()


class Crash(Exception):
    """Stands for the process dying right after the payment was mined."""


async def test_crash_after_paying_resumes_with_the_carried_tx(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    submitter: ChainSubmitter,
) -> None:
    data = os.urandom(SEGMENT_SIZE + 1)
    identity = FileMerkleTree.from_bytes(data).submission().identity
    flow = running_devnet.state.contracts.flow
    node = storage_network.nodes[0]
    nodes = NodeSet([node.url])
    journal: list[SubmitResult] = []

    async def then_crash(paid: SubmitResult) -> None:
        journal.append(paid)  # what the service's upload journal keeps
        raise Crash

    try:
        uploader = Uploader(nodes, submitter, FAST)
        with pytest.raises(Crash):
            await uploader.upload(data, request_id="crashy", on_submitted=then_crash)
        assert submit_events(devnet_w3, flow, identity) == 1
        # The retry carries the journalled tx seq: no submit is even asked for.
        done = await uploader.upload(data, request_id="crashy", tx_seq=journal[0].tx_seq)
        assert done.submission is None and done.tx_seq == journal[0].tx_seq
        assert (submitter.calls, submitter.sent) == (1, 1)
        assert submit_events(devnet_w3, flow, identity) == 1
        assert await Downloader(nodes).download(done.root, len(data)) == data
    finally:
        await nodes.aclose()


async def test_fee_paid_on_chain_is_the_quoted_fee(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    devnet_w3: Web3,
    submitter: ChainSubmitter,
) -> None:
    state = running_devnet.state
    data = os.urandom(3 * SEGMENT_SIZE)
    tree = FileMerkleTree.from_bytes(data)
    async with JsonRpcClient(state.rpc_url) as rpc:
        fees = FeeReader(rpc, state.contracts.flow)
        assert (await fees.market()).lower() == state.contracts.fixed_price_market.lower()
        assert await fees.price_per_sector() == state.price_per_sector
        quote = await fees.quote(tree.submission())
    assert quote.sectors == tree.submission().sectors
    assert quote.fee == quote.sectors * state.price_per_sector > 0
    nodes = NodeSet([n.url for n in storage_network.nodes])
    try:
        done = await Uploader(nodes, submitter, FAST).upload(
            data, request_id="fee", max_fee=quote.fee, tree=tree
        )
    finally:
        await nodes.aclose()
    assert done.submission is not None
    sent = devnet_w3.eth.get_transaction(done.submission.tx_hash)  # type: ignore[arg-type]
    assert sent["value"] == quote.fee == done.submission.fee
