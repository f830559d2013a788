"""Encryption at rest: 0G nodes hold only sealed bytes, and a deleted namespace key is final."""

from __future__ import annotations

import hashlib
import os

import grpc
import pytest
from google.rpc.error_details_pb2 import ErrorInfo

from devnet.storage_node import StorageNetwork
from services.storage.remote import BrokerSubmitter
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import create_namespace, get, namespace_name, put, rid
from tests.support import STORAGE_MASTER_KEY, TEST_KEYS
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_storage import Downloader, NodeSet, Uploader
from zerog_storage.at_rest import Unreadable, content_key, open_all, sealed_size, unwrap_key

MASTER = bytes.fromhex(STORAGE_MASTER_KEY)


def secret_text(size: int) -> bytes:
    """Recognisable plaintext: a marker repeated, with random bytes so every test's is new."""
    marker = b"patient record: blood type AB-; " + os.urandom(8).hex().encode()
    return (marker * (size // len(marker) + 1))[:size]


async def raw_from_node(network: StorageNetwork, obj: pb.Object) -> bytes:
    """What anyone holding the root can fetch from a storage node, proofs checked."""
    nodes = NodeSet([n.url for n in network.nodes])
    try:
        return await Downloader(nodes).download(
            bytes.fromhex(obj.root[2:]), sealed_size(obj.size), obj.tx_seq
        )
    finally:
        await nodes.aclose()


async def _wrapped_keys(storage: Storage) -> dict[str, bytes]:
    rows = await storage.pool.fetch("SELECT namespace, wrapped FROM namespace_keys")
    return {r["namespace"]: bytes(r["wrapped"]) for r in rows}


async def test_nodes_hold_no_plaintext_and_get_decrypts(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("sealed"))).name
    data = secret_text(300 * 1024)
    stored = await put(storage, ns, "record.txt", data)
    # The client sees its own bytes' size and digest; the root is the sealed bytes'.
    assert stored.object.size == len(data)
    assert stored.object.sha256 == hashlib.sha256(data).hexdigest()

    raw = await raw_from_node(storage_network, stored.object)
    assert raw[:4] == b"ZGE\x01"
    assert b"patient record" not in raw
    assert data[:64] not in raw
    _, got = await get(storage, ns, "record.txt")
    assert got == data


async def test_large_sealed_objects_stream_back(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("sealed"))).name
    data = secret_text(5 * 1024 * 1024 + 3)  # past the in-memory limit: through a temp file
    await put(storage, ns, "big", data)
    _, got = await get(storage, ns, "big")
    assert got == data


async def test_deduplication_holds_within_a_namespace_only(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    first = (await create_namespace(storage, namespace_name("a"))).name
    second = (await create_namespace(storage, namespace_name("b"))).name
    data = secret_text(70 * 1024)
    one = await put(storage, first, "x", data)
    again = await put(storage, first, "y", data)
    other = await put(storage, second, "x", data)
    assert again.deduplicated and again.object.root == one.object.root
    assert not other.deduplicated and other.object.root != one.object.root


async def test_after_namespace_deletion_nothing_decrypts(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("gone"))).name
    data = secret_text(100 * 1024)
    stored = await put(storage, ns, "record.txt", data)
    raw = await raw_from_node(storage_network, stored.object)
    sha = hashlib.sha256(data).digest()
    # While the key exists, the sealed bytes open with it (so the check below is meaningful).
    key = unwrap_key(MASTER, (await _wrapped_keys(storage))[ns], ns)
    assert open_all(content_key(key, sha), raw) == data

    await storage.stub.DeleteNamespace(
        pb.DeleteNamespaceRequest(request_id=rid(), name=ns, force=True), metadata=storage.md()
    )

    remaining = await _wrapped_keys(storage)
    assert ns not in remaining
    for name, wrapped in remaining.items():
        with pytest.raises(Unreadable):
            open_all(content_key(unwrap_key(MASTER, wrapped, name), sha), raw)
    # The copies are still on 0G, and still sealed.
    assert await raw_from_node(storage_network, stored.object) == raw
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(storage, ns, "record.txt")
    assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)


async def test_a_lost_key_refuses_reads_as_unreadable(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("lost"))).name
    await put(storage, ns, "f", secret_text(10 * 1024))
    await storage.pool.execute("DELETE FROM namespace_keys WHERE namespace = $1", ns)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(storage, ns, "f")
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "OBJECT_UNREADABLE"


async def test_objects_stored_before_encryption_stay_readable(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    """A version put before migration 006: plaintext on 0G, labelled 'plain'."""
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("legacy"))).name
    data = secret_text(20 * 1024)
    nodes = NodeSet([n.url for n in storage_network.nodes])
    channel = grpc.aio.insecure_channel(storage.config.broker_address)
    try:
        submitter = BrokerSubmitter(channel, TEST_KEYS.minter("storage"))
        result = await Uploader(nodes, submitter).upload(data, request_id=rid())
    finally:
        await channel.close()
        await nodes.aclose()
    sha = hashlib.sha256(data).digest()
    async with storage.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO contents (root, size, sha256, tx_seq, replicas)"
            " VALUES ($1, $2, $3, $4, 1)",
            result.root,
            len(data),
            sha,
            result.tx_seq,
        )
        await conn.execute(
            "INSERT INTO objects (namespace, name, version, root, replicas, creator, request_id)"
            " VALUES ($1, 'old.txt', 1, $2, 1, 'inference', 'old')",
            ns,
            result.root,
        )
    meta, got = await get(storage, ns, "old.txt")
    assert got == data
    assert meta.sha256 == sha.hex() and meta.size == len(data)
