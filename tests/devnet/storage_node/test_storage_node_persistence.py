"""Devnet storage node: data and sync state survive a restart; txs mined while down are synced."""

from __future__ import annotations

from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNodeProcess
from tests.devnet.storage_node.storage_node_helpers import (
    download_verified,
    random_file,
    submit,
    synced_info,
)
from zerog_storage import SEGMENT_SIZE, StorageNodeClient


async def test_restart_keeps_data_and_catches_up_on_missed_txs(
    start_storage_node: Callable[..., StorageNodeProcess],
    running_devnet: Devnet,
    devnet_w3: Web3,
    funded_account: LocalAccount,
) -> None:
    state = running_devnet.state
    node = start_storage_node()
    kept = submit(
        devnet_w3,
        funded_account,
        state.contracts.flow,
        state.price_per_sector,
        random_file(SEGMENT_SIZE + 5),
    )
    async with StorageNodeClient(node.url) as client:
        info = await synced_info(client, kept.root)
        await client.upload_segments_by_tx_seq(kept.segments(), info.tx.seq)
        height = node.sync_height()

    node.stop()
    missed = submit(
        devnet_w3, funded_account, state.contracts.flow, state.price_per_sector, random_file(999)
    )
    node.start()

    async with StorageNodeClient(node.url) as client:
        after = await client.get_file_info(kept.root)
        assert after is not None
        assert (after.finalized, after.tx) == (True, info.tx)
        assert await download_verified(client, kept.root, len(kept.data)) == kept.data
        caught_up = await synced_info(client, missed.root)
        assert caught_up.tx.seq > info.tx.seq
        await client.upload_segments_by_tx_seq(missed.segments(), caught_up.tx.seq)
        assert await download_verified(client, missed.root, 999) == missed.data
    assert node.sync_height() >= height
