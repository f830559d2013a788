"""Backup RPCs: verify, recover by root, the verification pass, flagged objects, retention."""

from __future__ import annotations

from services.storage import (
    convert,
    namespaces,
    objects,
    quota_returns,
    replay,
    validate,
)
from services.storage.errors import ObjectNotFound
from services.storage.faults import Context
from services.storage.model import Permission
from services.storage.service_base import Caller, Deps, caller, require_global
from services.storage.service_guard import guarded
from services.storage.service_objects import readable
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import request_ids

_MAX_PASS = 10000
_DEFAULT_PASS = 100


class JobRpcs:
    """Verification, recovery and retention."""

    deps: Deps

    async def _scope(
        self, who: Caller, namespace: str, needed: Permission, what: str
    ) -> str | None:
        """The namespace a job covers (None: all, for job runners only)."""
        if not namespace:
            require_global(who, self.deps.global_jobs, what)
            return None
        await namespaces.require(self.deps.pool, namespace, who.principals, needed)
        return namespace

    @guarded
    async def VerifyObject(
        self, request: pb.VerifyObjectRequest, context: Context
    ) -> pb.VerifyObjectResponse:
        found = await readable(
            self.deps, request.namespace, request.name, request.version, "VerifyObjectRequest"
        )
        content = await objects.content(self.deps.pool, found.root)
        assert content is not None  # an object always has its content row
        await self.deps.backups.check(content)
        fresh = await objects.get(self.deps.pool, found.namespace, found.name, found.version)
        return pb.VerifyObjectResponse(object=convert.stored_object(fresh or found))

    @guarded
    async def RecoverObject(
        self, request: pb.RecoverObjectRequest, context: Context
    ) -> pb.RecoverObjectResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        validate.namespace_name(request.namespace, problems)
        root = validate.root(request.root, problems)
        validate.raise_if("RecoverObjectRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool
        await namespaces.require(pool, request.namespace, who.principals, Permission.WRITE)
        if not await objects.with_root(pool, request.namespace, root):
            raise ObjectNotFound(request.namespace, request.root)

        async def run() -> pb.RecoverObjectResponse:
            content = await objects.content(pool, root)
            assert content is not None
            # One recovery per request of a service and principal (the broker sees only us).
            key = request_ids.derived("recover", who.service, who.primary, request.request_id)
            outcome = await self.deps.backups.recover(content, key)
            found = await objects.with_root(pool, request.namespace, root)
            return pb.RecoverObjectResponse(
                state=convert.STATE_TO_PB[outcome.state],
                segments_restored=outcome.segments_restored,
                objects=[convert.stored_object(o) for o in found],
            )

        return await replay.once(
            pool,
            who.primary,
            "RecoverObject",
            request.request_id,
            request,
            pb.RecoverObjectResponse,
            run,
        )

    @guarded
    async def RunVerification(
        self, request: pb.RunVerificationRequest, context: Context
    ) -> pb.RunVerificationResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        if request.namespace:
            validate.namespace_name(request.namespace, problems)
        if not 0 <= request.limit <= _MAX_PASS:
            problems["limit"] = f"must be 0-{_MAX_PASS}"
        older = None
        if request.HasField("older_than"):
            older = request.older_than.ToTimedelta()
            if older.total_seconds() < 0:
                problems["older_than"] = "must not be negative"
        validate.raise_if("RunVerificationRequest", problems)
        who = caller(self.deps.global_jobs)
        pool = self.deps.pool
        scope = await self._scope(who, request.namespace, Permission.ADMIN, "verification")

        async def run() -> pb.RunVerificationResponse:
            results = await self.deps.backups.run(scope, older, request.limit or _DEFAULT_PASS)
            bad = [c.root for c, o in results if o.state.value in ("degraded", "lost")]
            flagged = [
                o
                for o in await objects.objects_of_roots(pool, bad)
                if scope is None or o.namespace == scope
            ]
            return pb.RunVerificationResponse(
                checked=len(results),
                verified=sum(1 for _, o in results if o.state.value == "verified"),
                flagged=[convert.stored_object(o) for o in flagged],
            )

        return await replay.once(
            pool,
            who.primary,
            "RunVerification",
            request.request_id,
            request,
            pb.RunVerificationResponse,
            run,
        )

    @guarded
    async def ListFlaggedObjects(
        self, request: pb.ListFlaggedObjectsRequest, context: Context
    ) -> pb.ListFlaggedObjectsResponse:
        problems: dict[str, str] = {}
        if request.namespace:
            validate.namespace_name(request.namespace, problems)
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 3, problems)
        after = ("", "", 0)
        if token is not None:
            if token[2].isdigit():
                after = (token[0], token[1], int(token[2]))
            else:
                problems["page_token"] = "not a token from a previous page"
        validate.raise_if("ListFlaggedObjectsRequest", problems)
        who = caller(self.deps.global_jobs)
        scope = await self._scope(who, request.namespace, Permission.READ, "listing flags")
        found = await objects.flagged(self.deps.pool, scope, after, size + 1)
        more = len(found) > size
        found = found[:size]
        last = found[-1] if found else None
        token_out = (
            validate.encode_token(last.namespace, last.name, last.version) if more and last else ""
        )
        return pb.ListFlaggedObjectsResponse(
            objects=[convert.stored_object(o) for o in found], next_page_token=token_out
        )

    @guarded
    async def ApplyRetention(
        self, request: pb.ApplyRetentionRequest, context: Context
    ) -> pb.ApplyRetentionResponse:
        problems: dict[str, str] = {}
        validate.request_id(request.request_id, problems)
        if request.namespace:
            validate.namespace_name(request.namespace, problems)
        validate.raise_if("ApplyRetentionRequest", problems)
        who = caller(self.deps.global_jobs)
        scope = await self._scope(who, request.namespace, Permission.ADMIN, "retention")

        async def run() -> pb.ApplyRetentionResponse:
            expired, pruned = await self.deps.backups.retention(scope)
            return pb.ApplyRetentionResponse(expired_versions=expired, pruned_versions=pruned)

        response = await replay.once(
            self.deps.pool,
            who.primary,
            "ApplyRetention",
            request.request_id,
            request,
            pb.ApplyRetentionResponse,
            run,
        )
        names = [scope] if scope else await namespaces.all_names(self.deps.pool)
        for name in names:
            await quota_returns.give_back(self.deps.pool, self.deps.quota, name)
        return response
