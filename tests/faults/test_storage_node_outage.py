"""A storage node down while an object is uploaded: the put fails with a clear status, and the
retry with the same request id, once the node is back, completes and pays only once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import grpc
import pytest

from devnet.storage_node import StorageNodeProcess
from tests.stack import Stack
from tests.storage.helpers import content, header
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

RETRYABLE = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)


async def _messages(h: pb.PutObjectHeader, data: bytes) -> AsyncIterator[pb.PutObjectRequest]:
    yield pb.PutObjectRequest(header=h)
    yield pb.PutObjectRequest(chunk=data)


async def test_node_down_during_upload_retry_pays_once(
    stack: Stack, start_storage_node: Callable[..., StorageNodeProcess]
) -> None:
    node = start_storage_node()
    await stack.start(
        "storage", nodes=[node.url], env={"storage": {"UPLOAD_TX_TIMEOUT_SECONDS": "20"}}
    )
    stub: StorageServiceAsyncStub = storage_service_pb2_grpc.StorageServiceStub(
        stack.channels["storage"]
    )
    md = stack.md("storage", "inference")
    await stub.CreateNamespace(
        pb.CreateNamespaceRequest(request_id=uuid.uuid4().hex, name="faults"), metadata=md
    )
    data = content(300_000)
    h = header("faults", "during-outage.bin", data)

    node.set_faults(outage=True)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.PutObject(_messages(h, data), metadata=md, timeout=120)
    assert failed.value.code() in RETRYABLE, failed.value.details()

    node.set_faults(outage=False)
    stored = await stub.PutObject(_messages(h, data), metadata=md, timeout=120)
    again = await stub.PutObject(_messages(h, data), metadata=md, timeout=120)
    assert stored.object == again.object and stored.object.size == len(data)
    paid = await stack.pools["broker"].fetchval("SELECT count(*) FROM transactions")
    assert paid == 1  # random bytes: one Flow submission, by the first attempt or the retry
