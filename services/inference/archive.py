"""Archive a chat session as JSON through the storage service's gRPC API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from google.protobuf.json_format import MessageToDict

from services.inference.errors import StorageUnavailable
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2 as spb
from zerog_grpc import TokenMinter, request_ids
from zerog_grpc.tracing import annotate

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

NAMESPACE = "inference-chat-archives"
CHUNK = 256 * 1024


def archive_name(session: pb.ChatSession) -> str:
    """Where a session's archive lives in the namespace."""
    return f"sessions/{session.session_id}.json"


def archive_bytes(session: pb.ChatSession) -> bytes:
    """The archived form: the session as proto JSON, stable key order."""
    return json.dumps(MessageToDict(session), sort_keys=True, separators=(",", ":")).encode()


class Archiver:
    """Writes archives; without a storage address every archive is refused as unavailable."""

    def __init__(
        self, stub: StorageServiceAsyncStub | None, minter: TokenMinter, timeout: float
    ) -> None:
        self._stub = stub
        self._minter = minter
        self._timeout = timeout
        self._namespace_ready = False

    async def _ensure_namespace(self, stub: StorageServiceAsyncStub) -> None:
        if self._namespace_ready:
            return
        try:
            await stub.CreateNamespace(
                spb.CreateNamespaceRequest(request_id=f"create-{NAMESPACE}", name=NAMESPACE),
                metadata=self._minter.metadata("storage"),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        self._namespace_ready = True

    async def archive(self, session: pb.ChatSession, request_id: str) -> str:
        """Store the session; returns "<namespace>/<name>" (read it back with GetObject)."""
        if self._stub is None:
            raise StorageUnavailable("no storage service is configured (STORAGE_ADDRESS)")
        stub = self._stub
        data = archive_bytes(session)
        header = spb.PutObjectHeader(
            # Hashed, not cut short: two long request ids never become one archive request.
            request_id=request_ids.derived("archive", session.session_id, request_id),
            namespace=NAMESPACE,
            name=archive_name(session),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type="application/json",
            metadata={"user": session.user, "session_id": session.session_id},
        )

        async def parts() -> AsyncIterator[spb.PutObjectRequest]:
            yield spb.PutObjectRequest(header=header)
            for start in range(0, len(data), CHUNK):
                yield spb.PutObjectRequest(chunk=data[start : start + CHUNK])

        try:
            await self._ensure_namespace(stub)
            response = await stub.PutObject(
                parts(), metadata=self._minter.metadata("storage"), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            raise StorageUnavailable(
                f"storage refused the archive: {error.code().name}: {error.details()}"
            ) from error
        annotate(
            {
                "zerog.archive.id": f"{response.object.namespace}/{response.object.name}",
                "zerog.storage.merkle_root": response.object.root,
            }
        )
        return f"{response.object.namespace}/{response.object.name}"
