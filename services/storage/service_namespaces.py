"""Namespace RPCs: create, get, list, update, ACL, delete."""

from __future__ import annotations

from services.storage import convert, namespaces, replay, validate
from services.storage.faults import Context
from services.storage.model import Namespace, Permission, Retention
from services.storage.service_base import Deps, caller
from services.storage.service_guard import guarded
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import request_ids

_UPDATABLE = {"metadata", "quota_bytes", "retention", "default_replicas"}


class NamespaceRpcs:
    """Namespaces CRUD and ACLs."""

    deps: Deps

    @guarded
    async def CreateNamespace(
        self, request: pb.CreateNamespaceRequest, context: Context
    ) -> pb.CreateNamespaceResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.name, problems, "name")
        validate.metadata(dict(request.metadata), problems)
        if request.quota_bytes < 0:
            problems["quota_bytes"] = "must not be negative"
        if not 0 <= request.default_replicas <= self.deps.max_replicas:
            problems["default_replicas"] = f"must be 0-{self.deps.max_replicas}"
        acl = convert.acl(list(request.acl), problems)
        retention = convert.retention(request.retention, problems)
        validate.raise_if("CreateNamespaceRequest", problems)
        who = caller(self.deps.global_jobs)
        now = self.deps.clock()
        created = await namespaces.create(
            self.deps.pool,
            Namespace(
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
            ),
            # A retry finds its namespace; another service's request_id is another request.
            request_ids.scoped(who.service, request.request_id),
        )
        return pb.CreateNamespaceResponse(namespace=convert.namespace(created))

    @guarded
    async def GetNamespace(
        self, request: pb.GetNamespaceRequest, context: Context
    ) -> pb.GetNamespaceResponse:
        problems: dict[str, str] = {}
        validate.namespace_name(request.name, problems, "name")
        validate.raise_if("GetNamespaceRequest", problems)
        who = caller(self.deps.global_jobs)
        ns = await namespaces.require(self.deps.pool, request.name, who.principals, Permission.READ)
        return pb.GetNamespaceResponse(namespace=convert.namespace(ns))

    @guarded
    async def ListNamespaces(
        self, request: pb.ListNamespacesRequest, context: Context
    ) -> pb.ListNamespacesResponse:
        problems: dict[str, str] = {}
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 1, problems)
        validate.raise_if("ListNamespacesRequest", problems)
        who = caller(self.deps.global_jobs)
        after = token[0] if token else ""
        found = await namespaces.list_readable(self.deps.pool, who.principals, after, size + 1)
        more = len(found) > size
        found = found[:size]
        return pb.ListNamespacesResponse(
            namespaces=[convert.namespace(n) for n in found],
            next_page_token=validate.encode_token(found[-1].name) if more else "",
        )

    @guarded
    async def UpdateNamespace(
        self, request: pb.UpdateNamespaceRequest, context: Context
    ) -> pb.UpdateNamespaceResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.namespace.name, problems, "namespace.name")
        fields = set(request.update_mask.paths)
        if not fields or fields - _UPDATABLE:
            problems["update_mask"] = "name some of " + ", ".join(sorted(_UPDATABLE))
        new = request.namespace
        validate.metadata(dict(new.metadata), problems, "namespace.metadata")
        if new.quota_bytes < 0:
            problems["namespace.quota_bytes"] = "must not be negative"
        if not 0 <= new.default_replicas <= self.deps.max_replicas:
            problems["namespace.default_replicas"] = f"must be 0-{self.deps.max_replicas}"
        retention = convert.retention(new.retention, problems)
        validate.raise_if("UpdateNamespaceRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool

        async def run() -> pb.UpdateNamespaceResponse:
            ns = await namespaces.require(pool, new.name, who.principals, Permission.ADMIN)
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
            await namespaces.update(pool, changed, fields)
            fresh = await namespaces.require(pool, new.name, who.principals, Permission.ADMIN)
            return pb.UpdateNamespaceResponse(namespace=convert.namespace(fresh))

        return await replay.once(
            pool,
            who.primary,
            "UpdateNamespace",
            request.request_id,
            request,
            pb.UpdateNamespaceResponse,
            run,
        )

    @guarded
    async def SetNamespaceAcl(
        self, request: pb.SetNamespaceAclRequest, context: Context
    ) -> pb.SetNamespaceAclResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.namespace, problems)
        acl = convert.acl(list(request.acl), problems)
        validate.raise_if("SetNamespaceAclRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool

        async def run() -> pb.SetNamespaceAclResponse:
            await namespaces.require(pool, request.namespace, who.principals, Permission.ADMIN)
            await namespaces.set_acl(pool, request.namespace, acl)
            ns = await namespaces.get(pool, request.namespace)
            assert ns is not None
            return pb.SetNamespaceAclResponse(namespace=convert.namespace(ns))

        return await replay.once(
            pool,
            who.primary,
            "SetNamespaceAcl",
            request.request_id,
            request,
            pb.SetNamespaceAclResponse,
            run,
        )

    @guarded
    async def DeleteNamespace(
        self, request: pb.DeleteNamespaceRequest, context: Context
    ) -> pb.DeleteNamespaceResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.name, problems, "name")
        validate.raise_if("DeleteNamespaceRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool

        async def run() -> pb.DeleteNamespaceResponse:
            await namespaces.require(pool, request.name, who.principals, Permission.ADMIN)
            deleted = await namespaces.delete(pool, request.name, request.force)
            return pb.DeleteNamespaceResponse(deleted_objects=deleted)

        return await replay.once(
            pool,
            who.primary,
            "DeleteNamespace",
            request.request_id,
            request,
            pb.DeleteNamespaceResponse,
            run,
        )
