"""Backup RPCs: verify, recover by root, the verification pass, flagged objects, retention."""

from __future__ import annotations

from services.storage import access, convert, quota_returns, validate
from services.storage.access import Caller, caller
from services.storage.deps import Deps
from services.storage.errors import ObjectNotFound
from services.storage.model import Permission, VerifyState
from services.storage.rpc_objects import readable
from services.storage.store import contents, namespaces, objects
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs, request_ids
from zerog_grpc.handlers import Context

_MAX_PASS = 10000
_DEFAULT_PASS = 100
_BAD = (VerifyState.DEGRADED, VerifyState.LOST)
_JobRequest = pb.RunVerificationRequest | pb.ListFlaggedObjectsRequest | pb.ApplyRetentionRequest


def _job_problems(namespace: str, request_id: str | None = None) -> Problems:
    """The first problems of a job's request: its request_id's, if it takes one, then its
    namespace's ("" covers every namespace)."""
    problems = Problems() if request_id is None else validate.mutation(request_id)
    if namespace:
        validate.namespace_name(namespace, problems)
    return problems


class JobRpcs(Rpcs[Deps]):
    """Verification, recovery and retention."""

    async def _scope(
        self, request: _JobRequest, problems: Problems, needed: Permission, what: str
    ) -> tuple[Caller, str | None]:
        """Refuse the request's problems; then who asks and the namespace the job covers (None:
        all, for job runners only)."""
        validate.raise_if(request.DESCRIPTOR.name, problems)
        who = caller()
        if not request.namespace:
            access.require_global(who, self.deps.global_jobs, what)
            return who, None
        await access.require(self.deps.pool, request.namespace, who, needed)
        return who, request.namespace

    async def VerifyObject(
        self, request: pb.VerifyObjectRequest, context: Context
    ) -> pb.VerifyObjectResponse:
        found = await readable(
            self.deps, request.namespace, request.name, request.version, "VerifyObjectRequest"
        )
        content = await contents.get(self.deps.pool, found.root)
        assert content is not None  # an object always has its content row
        await self.deps.backups.check(content)
        fresh = await objects.get(self.deps.pool, found.namespace, found.name, found.version)
        return pb.VerifyObjectResponse(object=convert.stored_object(fresh or found))

    async def RecoverObject(
        self, request: pb.RecoverObjectRequest, context: Context
    ) -> pb.RecoverObjectResponse:
        problems = validate.mutation(request.request_id)
        validate.namespace_name(request.namespace, problems)
        root = validate.root(request.root, problems)
        validate.raise_if("RecoverObjectRequest", problems)
        who = caller()
        pool = self.deps.pool
        await access.require(pool, request.namespace, who, Permission.WRITE)
        if not await objects.with_root(pool, request.namespace, root):
            raise ObjectNotFound(request.namespace, request.root)

        async def work() -> pb.RecoverObjectResponse:
            content = await contents.get(pool, root)
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

        return await self.deps.run(who, request, pb.RecoverObjectResponse, work, uploading=True)

    async def RunVerification(
        self, request: pb.RunVerificationRequest, context: Context
    ) -> pb.RunVerificationResponse:
        problems = _job_problems(request.namespace, request.request_id)
        validate.up_to(request.limit, _MAX_PASS, problems, "limit")
        older = None
        if request.HasField("older_than"):
            older = problems.duration("older_than", request.older_than)
            if older.total_seconds() < 0:
                problems.add("older_than", "must not be negative")
        who, scope = await self._scope(request, problems, Permission.ADMIN, "verification")

        async def work() -> pb.RunVerificationResponse:
            results = await self.deps.backups.run(scope, older, request.limit or _DEFAULT_PASS)
            bad = [c.root for c, o in results if o.state in _BAD]
            flagged = [
                o
                for o in await objects.of_roots(self.deps.pool, bad)
                if scope is None or o.namespace == scope
            ]
            return pb.RunVerificationResponse(
                checked=len(results),
                verified=sum(1 for _, o in results if o.state is VerifyState.VERIFIED),
                flagged=[convert.stored_object(o) for o in flagged],
            )

        return await self.deps.run(who, request, pb.RunVerificationResponse, work)

    async def ListFlaggedObjects(
        self, request: pb.ListFlaggedObjectsRequest, context: Context
    ) -> pb.ListFlaggedObjectsResponse:
        problems = _job_problems(request.namespace)
        size = validate.page_size(request.page_size, problems)
        token = validate.decode_token(request.page_token, 3, problems)
        _, scope = await self._scope(request, problems, Permission.READ, "listing flags")
        after = (token[0], token[1], int(token[2])) if token else ("", "", 0)
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

    async def ApplyRetention(
        self, request: pb.ApplyRetentionRequest, context: Context
    ) -> pb.ApplyRetentionResponse:
        problems = _job_problems(request.namespace, request.request_id)
        who, scope = await self._scope(request, problems, Permission.ADMIN, "retention")

        async def work(conn: Connection) -> pb.ApplyRetentionResponse:
            expired, pruned = await self.deps.backups.retention(conn, scope)
            return pb.ApplyRetentionResponse(expired_versions=expired, pruned_versions=pruned)

        response = await self.deps.once.run_in_transaction(
            who.request(request),
            pb.ApplyRetentionResponse,
            work,
        )
        pool = self.deps.pool
        for name in [scope] if scope else await namespaces.all_names(pool):
            await quota_returns.give_back(pool, self.deps.quota, name)
        return response
