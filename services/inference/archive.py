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


def archive_namespace(session: pb.ChatSession) -> str:
    """Each session's archive has a namespace, so its own data key: deleting the session
    deletes the namespace, and with its key every copy on 0G becomes unreadable."""
    return f"{NAMESPACE}.{session.session_id}"


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

    async def _ensure_namespace(self, stub: StorageServiceAsyncStub, namespace: str) -> None:
        try:
            await stub.CreateNamespace(
                spb.CreateNamespaceRequest(request_id=f"create-{namespace}", name=namespace),
                metadata=self._minter.metadata("storage"),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise

    async def forget(self, archive_id: str) -> None:
        """Delete a session's archive: its namespace and key (older archives, which share one
        namespace and key, only logically)."""
        if self._stub is None:
            raise StorageUnavailable("no storage service is configured (STORAGE_ADDRESS)")
        namespace, name = archive_id.split("/", 1)
        md = self._minter.metadata("storage")
        try:
            if namespace == NAMESPACE:
                await self._stub.DeleteObject(
                    spb.DeleteObjectRequest(
                        request_id=f"delete-{archive_id}", namespace=namespace, name=name
                    ),
                    metadata=md,
                    timeout=self._timeout,
                )
            else:
                await self._stub.DeleteNamespace(
                    spb.DeleteNamespaceRequest(
                        request_id=f"delete-{namespace}", name=namespace, force=True
                    ),
                    metadata=md,
                    timeout=self._timeout,
                )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # deleted before: done
                raise StorageUnavailable(
                    f"storage could not delete the archive: {error.code().name}"
                ) from error

    async def archive(self, session: pb.ChatSession, request_id: str) -> str:
        """Store the session; returns "<namespace>/<name>" (read it back with GetObject)."""
        if self._stub is None:
            raise StorageUnavailable("no storage service is configured (STORAGE_ADDRESS)")
        stub = self._stub
        data = archive_bytes(session)
        header = spb.PutObjectHeader(
            # Hashed, not cut short: two long request ids never become one archive request.
            request_id=request_ids.derived("archive", session.session_id, request_id),
            namespace=archive_namespace(session),
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
            await self._ensure_namespace(stub, header.namespace)
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
