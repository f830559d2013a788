"""Namespace RPCs: create, get, list, update, ACL, delete."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from services.storage import access, convert, validate
from services.storage.access import Caller, caller
from services.storage.deps import Deps, M
from services.storage.model import Namespace, Permission, Retention
from services.storage.store import namespaces
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs, request_ids
from zerog_grpc.handlers import Context

_UPDATABLE = {"metadata", "quota_bytes", "retention", "default_replicas"}


async def _reread(conn: Connection, name: str) -> pb.Namespace:
    """A namespace as it stands after a change in this transaction."""
    ns = await namespaces.get(conn, name)
    assert ns is not None  # the change ran under the caller's check that it exists
    return convert.namespace(ns)


class NamespaceRpcs(Rpcs[Deps]):
    """Namespaces CRUD and ACLs."""

    def _settings(
        self, problems: Problems, ns: pb.Namespace | pb.CreateNamespaceRequest, prefix: str
    ) -> Retention:
        """The checks a namespace's settings share in CreateNamespace and UpdateNamespace."""
        validate.metadata(dict(ns.metadata), problems, f"{prefix}metadata")
        problems.not_negative(f"{prefix}quota_bytes", ns.quota_bytes)
        validate.up_to(
            ns.default_replicas, self.deps.max_replicas, problems, f"{prefix}default_replicas"
        )
        return convert.retention(ns.retention, problems)

    async def _administer(
        self,
        request: Message,
        name: str,
        response: type[M],
        change: Callable[[Connection, Namespace], Awaitable[M]],
    ) -> M:
        """`change` to namespace `name` once per request, in the transaction that checks the
        caller administers it."""

        async def work(conn: Connection, who: Caller) -> M:
            return await change(conn, await access.require(conn, name, who, Permission.ADMIN))

        return await self.deps.write(request, response, work)

    async def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: Context
    ) -> pb.CreateNamespaceResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.name, problems, "name")
        retention = self._settings(problems, request, "")
        acl = convert.acl(list(request.acl), problems)
        validate.raise_if("CreateNamespaceRequest", problems)
        now = self.deps.clock()

        async def work(conn: Connection, who: Caller) -> pb.CreateNamespaceResponse:
            namespace = Namespace(
                request.name,
                who.primary,
                acl,
                dict(request.metadata),
                request.quota_bytes,
                0,
                retention,
                request.default_replicas,
                now,
                now,
            )
            # The row keeps the caller's id too: a retry of a create made before stored
            # answers were kept finds its namespace by it.
            key = request_ids.scoped(who.service, request.request_id)
            created = await namespaces.create(conn, namespace, key)
            return pb.CreateNamespaceResponse(namespace=convert.namespace(created))

        return await self.deps.write(request, pb.CreateNamespaceResponse, work)

    async def GetNamespace(
        self, request: pb.GetNamespaceRequest, context: Context
    ) -> pb.GetNamespaceResponse:
        problems = Problems()
        validate.namespace_name(request.name, problems, "name")
        validate.raise_if("GetNamespaceRequest", problems)
        ns = await access.require(self.deps.pool, request.name, caller(), Permission.READ)
        return pb.GetNamespaceResponse(namespace=convert.namespace(ns))

    async def ListNamespaces(
        self, request: pb.ListNamespacesRequest, context: Context
    ) -> pb.ListNamespacesResponse:
        problems = Problems()
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 1, problems)
        validate.raise_if("ListNamespacesRequest", problems)
        after = token[0] if token else ""
        found = await namespaces.list_readable(self.deps.pool, caller().principals, after, size + 1)
        more = len(found) > size
        found = found[:size]
        return pb.ListNamespacesResponse(
            namespaces=[convert.namespace(n) for n in found],
            next_page_token=validate.encode_token(found[-1].name) if more else "",
        )

    async def UpdateNamespace(
        self, request: pb.UpdateNamespaceRequest, context: Context
    ) -> pb.UpdateNamespaceResponse:
        problems = validate.mutation(request.request_id)
        new = request.namespace
        validate.namespace_name(new.name, problems, "namespace.name")
        fields = set(request.update_mask.paths)
        if not fields or fields - _UPDATABLE:
            problems.add("update_mask", "name some of " + ", ".join(sorted(_UPDATABLE)))
        retention = self._settings(problems, new, "namespace.")
        validate.raise_if("UpdateNamespaceRequest", problems)

        async def change(conn: Connection, ns: Namespace) -> pb.UpdateNamespaceResponse:
            changed = dataclasses.replace(
                ns,
                metadata=dict(new.metadata),
                quota_bytes=new.quota_bytes,
                retention=retention if "retention" in fields else Retention(),
                default_replicas=new.default_replicas,
            )
            await namespaces.update(conn, changed, fields)
            return pb.UpdateNamespaceResponse(namespace=await _reread(conn, new.name))

        return await self._administer(request, new.name, pb.UpdateNamespaceResponse, change)

    async def SetNamespaceAcl(
        self, request: pb.SetNamespaceAclRequest, context: Context
    ) -> pb.SetNamespaceAclResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.namespace, problems)
        acl = convert.acl(list(request.acl), problems)
        validate.raise_if("SetNamespaceAclRequest", problems)

        async def change(conn: Connection, ns: Namespace) -> pb.SetNamespaceAclResponse:
            await namespaces.set_acl(conn, ns.name, acl)
            return pb.SetNamespaceAclResponse(namespace=await _reread(conn, ns.name))

        return await self._administer(
            request, request.namespace, pb.SetNamespaceAclResponse, change
        )

    async def DeleteNamespace(
        self, request: pb.DeleteNamespaceRequest, context: Context
    ) -> pb.DeleteNamespaceResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.name, problems, "name")
        validate.raise_if("DeleteNamespaceRequest", problems)

        async def change(conn: Connection, ns: Namespace) -> pb.DeleteNamespaceResponse:
            deleted = await namespaces.delete(conn, ns.name, request.force)
            return pb.DeleteNamespaceResponse(deleted_objects=deleted)

        return await self._administer(request, request.name, pb.DeleteNamespaceResponse, change)
