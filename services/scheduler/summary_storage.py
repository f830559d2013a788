"""Keeps summaries on 0G Storage through the storage service's gRPC API, as the scheduler."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from zerog.storage.v1 import storage_service_pb2 as spb
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_grpc import TokenMinter, request_ids, service_channel

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

# The seed's namespace for generated summaries, owned by the scheduler service. (The seed's
# ai-artifacts namespace stays unused: the scheduler generates no artifacts besides summaries.)
NAMESPACE = "ai-summaries"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Summary:
    """One notification's summary text and what identifies it."""

    run_id: int
    user_id: str
    job: str
    kind: str
    period_key: str
    title: str
    body: str

    @property
    def name(self) -> str:
        """Its object name: one per user, job and period."""
        return f"users/{self.user_id}/{self.job}/{self.period_key}.txt"

    @property
    def request_id(self) -> str:
        """Derived from the run and the user, so every retry writes it once."""
        return request_ids.derived("summary", str(self.run_id), self.user_id)


@dataclass(frozen=True)
class StoredObject:
    """The object version a summary was stored as."""

    namespace: str
    name: str
    version: int
    root: str


class StorageFailed(Exception):
    """Storage did not store the summary; `code` is the gRPC status name."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class SummaryStorage:
    """A storage client with the scheduler's own token; creates its namespace on first use."""

    def __init__(self, address: str, minter: TokenMinter, timeout_seconds: float) -> None:
        self._channel = service_channel(address)
        self._stub: StorageServiceAsyncStub = storage_service_pb2_grpc.StorageServiceStub(
            self._channel
        )
        self._minter = minter
        self._timeout = timeout_seconds
        self._namespace_ready = False

    async def put(self, summary: Summary) -> StoredObject:
        """Store the summary's body (UTF-8 text); raises StorageFailed.

        A retry with the same summary returns the first stored version: the request_id is the
        same and so are the bytes, read back from the database."""
        data = summary.body.encode()
        header = spb.PutObjectHeader(
            request_id=summary.request_id,
            namespace=NAMESPACE,
            name=summary.name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            content_type="text/plain; charset=utf-8",
            metadata={
                "user": summary.user_id,
                "job": summary.job,
                "kind": summary.kind,
                "period": summary.period_key,
                "title": summary.title,
            },
        )

        async def parts() -> AsyncIterator[spb.PutObjectRequest]:
            yield spb.PutObjectRequest(header=header)
            for start in range(0, len(data), CHUNK):
                yield spb.PutObjectRequest(chunk=data[start : start + CHUNK])

        try:
            await self._ensure_namespace()
            response = await self._stub.PutObject(
                parts(), metadata=self._minter.metadata("storage"), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            raise StorageFailed(error.code().name, error.details() or "") from error
        stored = response.object
        return StoredObject(stored.namespace, stored.name, stored.version, stored.root)

    async def _ensure_namespace(self) -> None:
        if self._namespace_ready:
            return
        try:
            await self._stub.CreateNamespace(
                spb.CreateNamespaceRequest(
                    request_id=f"create-{NAMESPACE}",
                    name=NAMESPACE,
                    metadata={"purpose": "scheduler summaries"},
                ),
                metadata=self._minter.metadata("storage"),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as error:
            # Created before (by this service on another replica or an earlier start): its
            # owner is the scheduler, or PutObject is refused and the summary stays pending.
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        self._namespace_ready = True

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()
