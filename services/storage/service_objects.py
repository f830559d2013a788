"""Object RPCs: put (client streaming), get (server streaming), head, list, delete."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc.aio

from services.storage import convert, namespaces, objects, quota_returns, replay, validate
from services.storage.errors import InvalidRequest, ObjectNotFound, StorageError
from services.storage.faults import Context, fail, relay
from services.storage.model import Permission, StoredObject
from services.storage.service_base import Deps, caller
from services.storage.service_guard import guarded
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc.tracing import annotate
from zerog_storage import StorageProtocolError


async def _chunks(requests: AsyncIterator[pb.PutObjectRequest]) -> AsyncIterator[bytes]:
    async for message in requests:
        if message.WhichOneof("part") != "chunk":
            raise InvalidRequest("PutObjectRequest", {"header": "only the first message"})
        yield message.chunk


async def readable(deps: Deps, namespace: str, name: str, version: int, what: str) -> StoredObject:
    """A live object the caller may read; AccessDenied or ObjectNotFound otherwise."""
    problems: dict[str, str] = {}
    validate.namespace_name(namespace, problems)
    validate.object_name(name, problems)
    if version < 0:
        problems["version"] = "must not be negative"
    validate.raise_if(what, problems)
    who = caller(deps.global_jobs)
    await namespaces.check_access(deps.pool, namespace, who.principals, Permission.READ)
    found = await objects.get(deps.pool, namespace, name, version)
    if found is None:
        raise ObjectNotFound(namespace, name, version)
    return found


class ObjectRpcs:
    """Objects within namespaces."""

    deps: Deps

    async def PutObject(
        self, request_iterator: AsyncIterator[pb.PutObjectRequest], context: Context
    ) -> pb.PutObjectResponse:
        try:
            first = await anext(aiter(request_iterator), None)
            if first is None or first.WhichOneof("part") != "header":
                raise InvalidRequest("PutObjectRequest", {"header": "must be the first message"})
            header = convert.put_header(
                first.header, self.deps.max_object_bytes, self.deps.max_replicas
            )
            who = caller(self.deps.global_jobs)
            header = await self.deps.puts.prepare(header, who.principals)
            # Two services acting for one user have request_ids of their own.
            owner = await self.deps.puts.owner(who.service, who.primary, header.request_id)
            done = await self.deps.puts.replay(header, owner)
            if done is None:
                done = await self.deps.puts.put(header, owner, _chunks(request_iterator))
            stored = convert.stored_object(done.object)
            annotate(
                {
                    "zerog.storage.merkle_root": stored.root,
                    "zerog.storage.tx_seq": stored.tx_seq,
                    "zerog.storage.size": stored.size,
                    "zerog.storage.deduplicated": done.deduplicated,
                }
            )
            return pb.PutObjectResponse(object=stored, deduplicated=done.deduplicated)
        except (StorageError, StorageProtocolError) as error:
            await fail(context, error)
        except grpc.aio.AioRpcError as error:
            await relay(context, error, "dependency")

    async def GetObject(
        self, request: pb.GetObjectRequest, context: Context
    ) -> AsyncIterator[pb.GetObjectResponse]:
        try:
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
        except (StorageError, StorageProtocolError) as error:
            await fail(context, error)

    @guarded
    async def HeadObject(
        self, request: pb.HeadObjectRequest, context: Context
    ) -> pb.HeadObjectResponse:
        found = await readable(
            self.deps, request.namespace, request.name, request.version, "HeadObjectRequest"
        )
        return pb.HeadObjectResponse(object=convert.stored_object(found))

    @guarded
    async def ListObjects(
        self, request: pb.ListObjectsRequest, context: Context
    ) -> pb.ListObjectsResponse:
        problems: dict[str, str] = {}
        validate.namespace_name(request.namespace, problems)
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 2, problems)
        after = ("", 0)
        if token is not None:
            if not token[1].isdigit():
                problems["page_token"] = "not a token from a previous page"
            else:
                after = (token[0], int(token[1]))
        validate.raise_if("ListObjectsRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool
        await namespaces.check_access(pool, request.namespace, who.principals, Permission.READ)
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

    @guarded
    async def DeleteObject(
        self, request: pb.DeleteObjectRequest, context: Context
    ) -> pb.DeleteObjectResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.namespace, problems)
        validate.object_name(request.name, problems)
        validate.raise_if("DeleteObjectRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool

        async def run() -> pb.DeleteObjectResponse:
            await namespaces.require(pool, request.namespace, who.principals, Permission.WRITE)
            deleted = await objects.delete_name(pool, request.namespace, request.name)
            if not deleted:
                raise ObjectNotFound(request.namespace, request.name)
            return pb.DeleteObjectResponse(deleted_versions=deleted)

        response = await replay.once(
            pool,
            who.primary,
            "DeleteObject",
            request.request_id,
            request,
            pb.DeleteObjectResponse,
            run,
        )
        # Outside the replay: a retry also finishes a give-back that failed the first time.
        await quota_returns.give_back(pool, self.deps.quota, request.namespace)
        return response
