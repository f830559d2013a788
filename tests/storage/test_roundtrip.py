"""Put and get through gRPC streaming: sizes around segment boundaries, the size limit, checks."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo

from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import (
    content,
    create_namespace,
    get,
    header,
    namespace_name,
    put,
    rid,
)
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail

MIB = 1024 * 1024


async def _paid(storage: Storage) -> int:
    """Transactions the module's broker sent so far (tests of a module run one at a time)."""
    return int(await storage.broker.pool.fetchval("SELECT count(*) FROM transactions"))


@pytest.mark.parametrize("size", [1, 256 * 1024, 256 * 1024 + 1, 10 * MIB])
async def test_put_get_round_trip(
    size: int, storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    data = content(size)
    stored = await put(storage, docs, "a/b.bin", data, content_type="application/octet-stream")
    assert stored.object.size == size
    assert stored.object.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.object.version == 1
    assert not stored.deduplicated
    meta, got = await get(storage, docs, "a/b.bin")
    assert got == data
    assert meta.root == stored.object.root
    assert meta.tx_seq == stored.object.tx_seq


async def test_over_the_limit_is_refused_before_paying(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    data = content(10 * MIB + 1)
    paid_before = await _paid(storage)
    # Only the header: the refusal must come from the size it announces, before any byte, and a
    # client still streaming 10 MB when the server answers would race its own writes.
    only_header = pb.PutObjectRequest(header=header(docs, "big", data))

    async def messages() -> AsyncIterator[pb.PutObjectRequest]:
        yield only_header

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage.stub.PutObject(messages(), metadata=storage.md("inference", ""))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = unpack_detail(caught.value, BadRequest)
    assert detail is not None
    assert [v.field for v in detail.field_violations] == ["size"]
    # Nothing was journalled, so nothing can have been paid or reserved.
    assert (
        await storage.pool.fetchval("SELECT count(*) FROM uploads WHERE namespace = $1", docs) == 0
    )
    assert await _paid(storage) == paid_before


async def test_bytes_not_matching_the_header_are_refused(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    data = content(1000)
    h = header(docs, "x", data)
    h.sha256 = hashlib.sha256(b"other").hexdigest()

    async def messages() -> AsyncIterator[pb.PutObjectRequest]:
        yield pb.PutObjectRequest(header=h)
        yield pb.PutObjectRequest(chunk=data)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage.stub.PutObject(messages(), metadata=storage.md())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = unpack_detail(caught.value, BadRequest)
    assert detail is not None and detail.field_violations[0].field == "sha256"
    assert list(storage.config.temp_dir.iterdir()) == []


async def test_retry_and_dedup_never_pay_twice(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    data = content(5000)
    paid_before = await _paid(storage)
    request_id = rid()
    first = await put(storage, docs, "one", data, request_id=request_id)
    again = await put(storage, docs, "one", data, request_id=request_id)
    assert again.object == first.object
    copy = await put(storage, docs, "two", data)
    assert copy.deduplicated
    assert copy.object.root == first.object.root
    assert copy.object.tx_seq == first.object.tx_seq
    assert await _paid(storage) == paid_before + 1


async def test_request_id_reused_for_other_bytes(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    request_id = rid()
    await put(storage, docs, "one", content(100), request_id=request_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(storage, docs, "one", content(100), request_id=request_id)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "REQUEST_ID_REUSED"


async def test_request_ids_belong_to_their_caller(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    suffix = rid()[:8]
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    alices = (await create_namespace(storage, namespace_name("a"), user=alice)).name
    bobs = (await create_namespace(storage, namespace_name("b"), user=bob)).name
    request_id = rid()
    paid_before = await _paid(storage)
    mine = await put(storage, alices, "x", content(700), user=alice, request_id=request_id)
    # Bob picks the same id for other bytes: a request of his own, not a reuse of Alice's.
    data = content(900)
    theirs = await put(storage, bobs, "y", data, user=bob, request_id=request_id)
    assert theirs.object.namespace == bobs and theirs.object.size == 900
    assert theirs.object.root != mine.object.root
    assert await _paid(storage) == paid_before + 2
    # Each retry still replays its own caller's first answer.
    again = await put(storage, bobs, "y", data, user=bob, request_id=request_id)
    assert again.object == theirs.object
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(storage, alices, "x", content(5), user=alice, request_id=request_id)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("size", [1, 10 * MIB])
@pytest.mark.parametrize("replicas", [2, 9])
async def test_replicas_beyond_the_nodes_or_the_maximum_are_bad_requests(
    size: int, replicas: int, storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    # One node holding every shard: one copy at most; MAX_REPLICAS is 8.
    storage = await start_storage([n.url for n in storage_network.nodes])
    docs = (await create_namespace(storage, namespace_name("docs"))).name
    paid_before = await _paid(storage)
    data = content(size)
    never = asyncio.Event()

    async def header_only() -> AsyncIterator[pb.PutObjectRequest]:
        # The bytes would follow only once the header is accepted: the answer must come first.
        yield pb.PutObjectRequest(header=header(docs, "r", data, replicas=replicas))
        await never.wait()
        yield pb.PutObjectRequest(chunk=data)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage.stub.PutObject(header_only(), metadata=storage.md())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = unpack_detail(caught.value, BadRequest)
    assert detail is not None
    assert [v.field for v in detail.field_violations] == ["replicas"]
    assert (
        await storage.pool.fetchval("SELECT count(*) FROM uploads WHERE namespace = $1", docs) == 0
    )
    assert await _paid(storage) == paid_before
