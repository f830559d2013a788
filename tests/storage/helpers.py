"""Calls the storage tests repeat: namespaces, streaming put and get, random content."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator

from web3 import Web3

from tests.storage.conftest import Storage
from tests.storage_client.conftest import submit_events
from tests.support import STORAGE_MASTER_KEY
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_db import Executor
from zerog_storage import FileMerkleTree
from zerog_storage.at_rest import content_key, seal_all, unwrap_key

CHUNK = 1024 * 1024


def content(size: int) -> bytes:
    """Random bytes: never on the shared devnet Flow already, so each upload pays once."""
    return os.urandom(size)


def rid() -> str:
    return uuid.uuid4().hex


async def create_namespace(
    storage: Storage, name: str, service: str = "inference", user: str = "", **fields: object
) -> pb.Namespace:
    response = await storage.stub.CreateNamespace(
        pb.CreateNamespaceRequest(request_id=rid(), name=name, **fields),  # type: ignore[arg-type]
        metadata=storage.md(service, user),
    )
    return response.namespace


async def _messages(
    header: pb.PutObjectHeader, data: bytes, chunk: int
) -> AsyncIterator[pb.PutObjectRequest]:
    yield pb.PutObjectRequest(header=header)
    for start in range(0, len(data), chunk):
        yield pb.PutObjectRequest(chunk=data[start : start + chunk])


def header(
    namespace: str, name: str, data: bytes, request_id: str = "", **fields: object
) -> pb.PutObjectHeader:
    return pb.PutObjectHeader(
        request_id=request_id or rid(),
        namespace=namespace,
        name=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        **fields,  # type: ignore[arg-type]
    )


async def put(
    storage: Storage,
    namespace: str,
    name: str,
    data: bytes,
    *,
    service: str = "inference",
    user: str = "",
    request_id: str = "",
    chunk: int = CHUNK,
    **fields: object,
) -> pb.PutObjectResponse:
    h = header(namespace, name, data, request_id, **fields)
    return await storage.stub.PutObject(
        _messages(h, data, chunk), metadata=storage.md(service, user)
    )


async def get(
    storage: Storage,
    namespace: str,
    name: str,
    *,
    service: str = "inference",
    user: str = "",
    version: int = 0,
) -> tuple[pb.Object, bytes]:
    call = storage.stub.GetObject(
        pb.GetObjectRequest(namespace=namespace, name=name, version=version),
        metadata=storage.md(service, user),
    )
    first: pb.Object | None = None
    parts = []
    async for message in call:
        if message.WhichOneof("part") == "object":
            assert first is None, "metadata comes once, first"
            first = message.object
        else:
            assert first is not None, "bytes only after the metadata"
            parts.append(message.chunk)
    assert first is not None
    return first, b"".join(parts)


def namespace_name(prefix: str = "ns") -> str:
    """A namespace name no other test uses (tests share a module's database)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def flow_submissions(w3: Web3, flow: str, data: bytes) -> int:
    """How many Flow submissions of these bytes are on chain (0 for b"")."""
    if not data:
        return 0
    return submit_events(w3, flow, FileMerkleTree.from_bytes(data).submission().identity)


async def sealed_bytes(db: Executor, namespace: str, data: bytes) -> bytes:
    """The bytes storage puts on 0G for `data` in `namespace` (sealed under its key), or b""
    while the namespace has no key yet (its first put makes it)."""
    wrapped = await db.fetchval(
        "SELECT wrapped FROM storage.namespace_keys WHERE namespace = $1", namespace
    )
    if wrapped is None:
        return b""
    key = unwrap_key(bytes.fromhex(STORAGE_MASTER_KEY), bytes(wrapped), namespace)
    return seal_all(content_key(key, hashlib.sha256(data).digest()), data)
