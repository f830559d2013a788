"""Conformance with the official 0G storage TS SDK: what our service stores the SDK reads back
byte for byte, and what the SDK stores our proof-checked download (and the service) reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage
from tests.storage.helpers import content, create_namespace, get, namespace_name, put, sealed_bytes
from tests.storage.sdk import HAS_NODE, sdk_download, sdk_upload
from zerog_storage import SEGMENT_SIZE, Downloader, NodeSet

pytestmark = pytest.mark.skipif(not HAS_NODE, reason="needs Node 20 for the TS SDK")


async def test_sdk_downloads_what_put_object_stored(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    start_storage: StartStorage,
    tmp_path: Path,
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = await create_namespace(storage, namespace_name("sdk"))
    data = content(2 * SEGMENT_SIZE + 4321)  # three segments, the last one partial
    stored = await put(storage, ns.name, "for-the-sdk.bin", data)
    got = sdk_download(
        storage_network.indexer.url,
        running_devnet.state.rpc_url,
        stored.object.root,
        tmp_path / "sdk-out.bin",
    )
    # The SDK gets the sealed bytes the nodes hold: exactly ours, and only we can open them.
    assert got == await sealed_bytes(storage.pool, ns.name, data)
    assert data[:64] not in got
    assert hashlib.sha256(data).hexdigest() == stored.object.sha256


async def test_what_the_sdk_uploaded_reads_back_proof_checked_and_through_the_service(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    funded_account: LocalAccount,
    start_storage: StartStorage,
    tmp_path: Path,
) -> None:
    data = os.urandom(SEGMENT_SIZE + 777)
    source = tmp_path / "sdk-in.bin"
    source.write_bytes(data)
    result = sdk_upload(
        storage_network.indexer.url,
        running_devnet.state.rpc_url,
        "0x" + bytes(funded_account.key).hex(),
        source,
        tmp_path / "sdk-roundtrip.bin",
    )
    root = bytes.fromhex(result["root"][2:])

    # Our library alone: found through the indexer, every segment proof-checked.
    nodes = NodeSet(indexer_url=storage_network.indexer.url)
    try:
        assert await Downloader(nodes).download(root, len(data)) == data
    finally:
        await nodes.aclose()

    # The service takes the SDK's file into a namespace sealed: other bytes, another root
    # (deduplication with plaintext on 0G is given up for confidentiality).
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = await create_namespace(storage, namespace_name("sdk"))
    imported = await put(storage, ns.name, "from-the-sdk.bin", data)
    assert not imported.deduplicated
    assert imported.object.root != result["root"]
    _, got = await get(storage, ns.name, "from-the-sdk.bin")
    assert got == data
