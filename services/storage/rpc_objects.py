"""Object RPCs: put (client streaming), get (server streaming), head, list, delete."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.storage import access, convert, quota_returns, validate
from services.storage.access import Caller, caller
from services.storage.deps import Deps
from services.storage.errors import ObjectNotFound
from services.storage.model import Permission, StoredObject
from services.storage.store import namespaces, objects
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs
from zerog_grpc.handlers import Context
from zerog_grpc.tracing import annotate


async def _chunks(requests: AsyncIterator[pb.PutObjectRequest]) -> AsyncIterator[bytes]:
    async for message in requests:
        if message.WhichOneof("part") != "chunk":
            raise validate.invalid("PutObjectRequest", "header", "only the first message")
        yield message.chunk


async def readable(deps: Deps, namespace: str, name: str, version: int, what: str) -> StoredObject:
    """A live object the caller may read; AccessDenied or ObjectNotFound otherwise."""
    problems = Problems()
    validate.object_key(problems, namespace, name, version)
    validate.raise_if(what, problems)
    await access.check(deps.pool, namespace, caller(), Permission.READ)
    found = await objects.get(deps.pool, namespace, name, version)
    if found is None:
        raise ObjectNotFound(namespace, name, version)
    return found


async def _admit(deps: Deps, namespace: str) -> None:
    """A permit of the namespace owner's PutObject rate limits (the subject its bytes are
    charged to), before a byte is received, reserved or uploaded; RateLimited when a window is
    full. The platform's own namespaces (owned by a service) are not limited here: what their
    services write is bounded by those services' own callers' limits."""
    if deps.rates is None:
        return
    found = await namespaces.get(deps.pool, namespace)
    # A namespace deleted meanwhile fails in put(), as before.
    if found is not None and not found.owner.startswith("service:"):
        await deps.rates.admit(found.owner, "PutObject")


class ObjectRpcs(Rpcs[Deps]):
    """Objects within namespaces."""

    async def PutObject(
        self, request_iterator: AsyncIterator[pb.PutObjectRequest], context: Context
    ) -> pb.PutObjectResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise validate.invalid("PutObjectRequest", "header", "must be the first message")
        header = convert.put_header(
            first.header, self.deps.max_object_bytes, self.deps.max_replicas
        )
        who = caller()
        puts = self.deps.puts

        async def work() -> pb.PutObjectResponse:
            effective = await puts.prepare(header, who)
            # A put journaled but not answered (a crash, quota down at its commit) resumes.
            owner = await puts.owner(who.service, who.primary, header.request_id)
            done = await puts.replay(effective, owner)
            if done is None:
                await _admit(self.deps, effective.namespace)
                done = await puts.put(effective, owner, _chunks(request_iterator))
            return pb.PutObjectResponse(
                object=convert.stored_object(done.object), deduplicated=done.deduplicated
            )

        # Claimed before anything is received: concurrent retries never upload twice.
        response = await self.deps.uploading.run(
            who.request(first.header, "PutObject"), pb.PutObjectResponse, work
        )
        annotate(
            {
                "zerog.storage.merkle_root": response.object.root,
                "zerog.storage.tx_seq": response.object.tx_seq,
                "zerog.storage.size": response.object.size,
                "zerog.storage.deduplicated": response.deduplicated,
            }
        )
        return response

    async def GetObject(
        self, request: pb.GetObjectRequest, context: Context
    ) -> AsyncIterator[pb.GetObjectResponse]:
        found = await readable(
            self.deps, request.namespace, request.name, request.version, "GetObjectRequest"
        )
        # aclosing: a cancelled call still removes the temp file at once.
        async with contextlib.aclosing(self.deps.reads.chunks(found)) as chunks:
            # The first chunk arrives only after the whole object was verified.
            first = await anext(chunks, None)
            yield pb.GetObjectResponse(object=convert.stored_object(found))
            if first is not None:
                yield pb.GetObjectResponse(chunk=first)
            async for chunk in chunks:
                yield pb.GetObjectResponse(chunk=chunk)

    async def HeadObject(
        self, request: pb.HeadObjectRequest, context: Context
    ) -> pb.HeadObjectResponse:
        found = await readable(
            self.deps, request.namespace, request.name, request.version, "HeadObjectRequest"
        )
        return pb.HeadObjectResponse(object=convert.stored_object(found))

    async def ListObjects(
        self, request: pb.ListObjectsRequest, context: Context
    ) -> pb.ListObjectsResponse:
        problems = Problems()
        validate.namespace_name(request.namespace, problems)
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 2, problems)
        validate.raise_if("ListObjectsRequest", problems)
        after = (token[0], int(token[1])) if token else ("", 0)
        pool = self.deps.pool
        await access.check(pool, request.namespace, caller(), Permission.READ)
        found = await objects.page(
            pool,
            request.namespace,
            prefix=request.prefix,
            after=after,
            limit=size + 1,
            all_versions=request.all_versions,
            include_deleted=request.include_deleted,
        )
        more = len(found) > size
        found = found[:size]
        last = found[-1] if found else None
        return pb.ListObjectsResponse(
            objects=[convert.stored_object(o) for o in found],
            next_page_token=validate.encode_token(last.name, last.version) if more and last else "",
        )

    async def DeleteObject(
        self, request: pb.DeleteObjectRequest, context: Context
    ) -> pb.DeleteObjectResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.namespace, problems)
        validate.object_name(request.name, problems)
        validate.raise_if("DeleteObjectRequest", problems)

        async def work(conn: Connection, who: Caller) -> pb.DeleteObjectResponse:
            await access.require(conn, request.namespace, who, Permission.WRITE)
            deleted = await objects.delete_name(conn, request.namespace, request.name)
            if not deleted:
                raise ObjectNotFound(request.namespace, request.name)
            return pb.DeleteObjectResponse(deleted_versions=deleted)

        response = await self.deps.write(request, pb.DeleteObjectResponse, work)
        # Outside the stored answer: a retry also finishes a give-back that failed the first time.
        await quota_returns.give_back(self.deps.pool, self.deps.quota, request.namespace)
        return response
