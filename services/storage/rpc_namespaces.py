"""Namespace RPCs: create, get, list, update, ACL, delete."""

from __future__ import annotations

from services.storage import access, convert, validate
from services.storage.access import caller
from services.storage.deps import Deps
from services.storage.model import Namespace, Permission, Retention
from services.storage.store import namespaces
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs, request_ids
from zerog_grpc.handlers import Context

_UPDATABLE = {"metadata", "quota_bytes", "retention", "default_replicas"}


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

    async def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: Context
    ) -> pb.CreateNamespaceResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.name, problems, "name")
        retention = self._settings(problems, request, "")
        acl = convert.acl(list(request.acl), problems)
        validate.raise_if("CreateNamespaceRequest", problems)
        who = caller()
        now = self.deps.clock()
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

        async def work(conn: Connection) -> pb.CreateNamespaceResponse:
            # The row keeps the caller's id too: a retry of a create made before stored
            # answers were kept finds its namespace by it.
            key = request_ids.scoped(who.service, request.request_id)
            created = await namespaces.create(conn, namespace, key)
            return pb.CreateNamespaceResponse(namespace=convert.namespace(created))

        return await self.deps.once.run_in_transaction(
            who.request(request),
            pb.CreateNamespaceResponse,
            work,
        )

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
        who = caller()

        async def work(conn: Connection) -> pb.UpdateNamespaceResponse:
            ns = await access.require(conn, new.name, who, Permission.ADMIN)
            changed = Namespace(
                ns.name,
                ns.owner,
                ns.acl,
                dict(new.metadata),
                new.quota_bytes,
                ns.used_bytes,
                retention if "retention" in fields else Retention(),
                new.default_replicas,
                ns.created_at,
                ns.updated_at,
            )
            await namespaces.update(conn, changed, fields)
            fresh = await namespaces.get(conn, new.name)
            assert fresh is not None
            return pb.UpdateNamespaceResponse(namespace=convert.namespace(fresh))

        return await self.deps.once.run_in_transaction(
            who.request(request),
            pb.UpdateNamespaceResponse,
            work,
        )

    async def SetNamespaceAcl(
        self, request: pb.SetNamespaceAclRequest, context: Context
    ) -> pb.SetNamespaceAclResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.namespace, problems)
        acl = convert.acl(list(request.acl), problems)
        validate.raise_if("SetNamespaceAclRequest", problems)
        who = caller()

        async def work(conn: Connection) -> pb.SetNamespaceAclResponse:
            await access.require(conn, request.namespace, who, Permission.ADMIN)
            await namespaces.set_acl(conn, request.namespace, acl)
            ns = await namespaces.get(conn, request.namespace)
            assert ns is not None
            return pb.SetNamespaceAclResponse(namespace=convert.namespace(ns))

        return await self.deps.once.run_in_transaction(
            who.request(request),
            pb.SetNamespaceAclResponse,
            work,
        )

    async def DeleteNamespace(
        self, request: pb.DeleteNamespaceRequest, context: Context
    ) -> pb.DeleteNamespaceResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.name, problems, "name")
        validate.raise_if("DeleteNamespaceRequest", problems)
        who = caller()

        async def work(conn: Connection) -> pb.DeleteNamespaceResponse:
            await access.require(conn, request.name, who, Permission.ADMIN)
            deleted = await namespaces.delete(conn, request.name, request.force)
            return pb.DeleteNamespaceResponse(deleted_objects=deleted)

        return await self.deps.once.run_in_transaction(
            who.request(request),
            pb.DeleteNamespaceResponse,
            work,
        )
