"""PutObject: refuse early, receive to a temp file, journal, reserve quota, upload, record.

Nothing is paid before the header, the namespace permission, the replica count and the bytes
(size and SHA-256) are all checked. The journal row is written before the broker is asked to
pay; a retry (even after a crash) finds it and carries the paid tx forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import asyncpg

from services.storage import access, files, uploads, validate
from services.storage.access import Caller
from services.storage.errors import NamespaceQuotaExceeded
from services.storage.keys import NamespaceKeys
from services.storage.metrics import UploadMetrics
from services.storage.model import Permission, PutHeader, StoredObject, VerifyState
from services.storage.remote import QuotaClient
from services.storage.store import contents, namespaces, objects
from services.storage.store import uploads as journal
from zerog_db import RequestIdReused
from zerog_storage import (
    FeeReader,
    FileMerkleTree,
    NodeSet,
    SubmitResult,
    Uploader,
    replica_capacity,
)
from zerog_storage.uploader import build_tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PutResult:
    """The stored version and whether no fee was paid for it."""

    object: StoredObject
    deduplicated: bool


@dataclass(frozen=True)
class PutFlow:
    """Everything PutObject does after its header was parsed."""

    pool: asyncpg.Pool
    nodes: NodeSet
    uploader: Uploader
    keys: NamespaceKeys
    _: KW_ONLY
    quota: QuotaClient | None
    fees: FeeReader | None
    temp_dir: Path
    default_replicas: int
    max_replicas: int
    metrics: UploadMetrics

    async def prepare(self, header: PutHeader, who: Caller) -> PutHeader:
        """Check access and replicas; the header with its effective replica count."""
        namespace = await access.require(self.pool, header.namespace, who, Permission.WRITE)
        replicas = header.replicas or namespace.default_replicas or self.default_replicas
        if replicas > self.max_replicas:
            raise validate.invalid("PutObjectHeader", "replicas", f"must be 0-{self.max_replicas}")
        available = replica_capacity(await self.nodes.discover())
        if replicas > available:
            # Refused with the header, before a byte is received, whatever the object's size.
            which = "replicas" if header.replicas else "replicas (the namespace's default)"
            raise validate.invalid(
                "PutObjectHeader",
                "replicas",
                f"{which} {replicas} exceeds the {available} the nodes can hold",
            )
        return dataclasses.replace(header, replicas=replicas)

    async def owner(self, service: str, principal: str, request_id: str) -> uploads.Owner:
        """Whose upload a calling service's request is (store.uploads.owner)."""
        return await journal.owner(self.pool, service, principal, request_id)

    async def replay(self, header: PutHeader, owner: uploads.Owner) -> PutResult | None:
        """The first result of a finished request with this request_id, if any."""
        found = await journal.find(self.pool, owner, header.request_id)
        if found is None:
            return None
        digest, upload = found
        if digest != uploads.header_digest(header, owner.principal):
            raise RequestIdReused(header.request_id)
        if upload.state != "stored" or upload.version is None:
            return None
        await self._charge_if_owed(header, owner, upload, upload.version)
        stored = await objects.get_version(self.pool, header.namespace, header.name, upload.version)
        return PutResult(stored, upload.deduplicated)

    async def put(
        self, header: PutHeader, owner: uploads.Owner, chunks: AsyncIterator[bytes]
    ) -> PutResult:
        """Receive, seal, upload (or deduplicate) and record one object version."""
        with (
            files.temp_file(self.temp_dir, "put-") as path,
            files.temp_file(self.temp_dir, "sealed-") as sealed_path,
        ):
            try:
                await files.receive(chunks, path, header.size, header.sha256)
                key = await self.keys.content_key_for_put(
                    self.pool, header.namespace, header.sha256
                )
                sealed = await asyncio.to_thread(
                    files.seal_file, path, sealed_path, key, header.size
                )
                path.unlink()  # the plaintext is not needed past this point
                result = await self._store(header, owner, sealed_path, sealed)
            except Exception:
                self.metrics.failed()
                raise
        self.metrics.stored(header.size, result.deduplicated)
        return result

    async def _store(
        self, header: PutHeader, owner: uploads.Owner, path: Path, sealed: files.Sealed
    ) -> PutResult:
        tree = await build_tree(path)
        upload = await journal.begin(self.pool, header, owner, tree.root)
        namespace = await namespaces.get(self.pool, header.namespace)
        if namespace is None:  # deleted since prepare()
            raise validate.invalid("PutObjectHeader", "namespace", "was deleted")
        self._check_namespace_quota(header, namespace.quota_bytes, namespace.used_bytes)
        reservation = None
        if self.quota is not None:
            reservation = await self.quota.reserve(
                uploads.reserve_id(owner, header.request_id, upload.attempts),
                namespace.owner,
                header.size,
            )
        try:
            tx_seq, deduplicated = await self._upload(header, owner, upload, path, tree)
            async with self.pool.acquire() as conn, conn.transaction():
                await namespaces.lock(conn, header.namespace)
                fresh = await namespaces.get(conn, header.namespace)
                if fresh is not None:
                    self._check_namespace_quota(header, fresh.quota_bytes, fresh.used_bytes)
                await contents.save(
                    conn, tree.root, sealed.size, sealed.sha256, tx_seq, header.replicas
                )
                version = await objects.insert_version(conn, header, tree.root, owner.principal)
                await journal.advance(
                    conn,
                    owner,
                    header.request_id,
                    "stored",
                    tx_seq=tx_seq,
                    version=version,
                    deduplicated=deduplicated,
                )
        except BaseException:
            if reservation is not None and self.quota is not None:
                await _quietly(self.quota.release(reservation))
            raise
        if reservation is not None and self.quota is not None:
            await self.quota.commit(reservation, header.size, "0x" + tree.root.hex())
            await objects.mark_charged(
                self.pool, header.namespace, header.name, version, namespace.owner
            )
        stored = await objects.get_version(self.pool, header.namespace, header.name, version)
        return PutResult(stored, deduplicated)

    async def _charge_if_owed(
        self, header: PutHeader, owner: uploads.Owner, upload: journal.Upload, version: int
    ) -> None:
        """Commit a stored version's bytes that the storing attempt could not (quota was down
        when it committed): its reservation is found again by its request_id, and quota bills a
        late commit and replays a repeated one, so the bytes are counted exactly once."""
        if self.quota is None or not await objects.charge_owed(
            self.pool, header.namespace, header.name, version
        ):
            return
        namespace = await namespaces.get(self.pool, header.namespace)
        if namespace is None:
            return
        reservation = await self.quota.reserve(
            uploads.reserve_id(owner, header.request_id, upload.attempts),
            namespace.owner,
            header.size,
        )
        root = upload.root.hex() if upload.root is not None else ""
        await self.quota.commit(reservation, header.size, "0x" + root)
        await objects.mark_charged(
            self.pool, header.namespace, header.name, version, namespace.owner
        )

    def _check_namespace_quota(self, header: PutHeader, limit: int, used: int) -> None:
        if limit and used + header.size > limit:
            raise NamespaceQuotaExceeded(header.namespace, limit, used, header.size)

    async def _upload(
        self,
        header: PutHeader,
        owner: uploads.Owner,
        upload: journal.Upload,
        path: Path,
        tree: FileMerkleTree,
    ) -> tuple[int, bool]:
        """Put the bytes on 0G Storage unless they are there already: (tx seq, deduplicated)."""
        known = await contents.get(self.pool, tree.root)
        if (
            known is not None
            and known.replicas >= header.replicas
            and known.verify_state is not VerifyState.LOST
        ):
            return known.tx_seq, True
        max_fee = None
        if self.fees is not None:
            max_fee = (await self.fees.quote(tree.submission())).fee
        await journal.advance(
            self.pool, owner, header.request_id, "submitting", only_from=("received",)
        )

        async def submitted(result: SubmitResult) -> None:
            await journal.advance(
                self.pool,
                owner,
                header.request_id,
                "submitted",
                only_from=("received", "submitting"),
                tx_seq=result.tx_seq,
                tx_hash=result.tx_hash,
                fee_neuron=result.fee,
            )
            log.info(
                "flow submission paid",
                extra={
                    "request_id": header.request_id,
                    "tx_seq": result.tx_seq,
                    "fee_neuron": str(result.fee),
                    "replayed": result.replayed,
                },
            )

        result = await self.uploader.upload(
            path,
            request_id=uploads.put_id(owner, header.request_id),
            replicas=header.replicas,
            tx_seq=upload.tx_seq,
            max_fee=max_fee,
            on_submitted=submitted,
            tree=tree,
        )
        return result.tx_seq, result.submission is None


async def _quietly(call: Awaitable[None]) -> None:
    # A failed release only delays the bytes' return until the reservation expires.
    with contextlib.suppress(Exception):
        await call
