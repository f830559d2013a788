"""RPCs of two-phase spending: Reserve sets amounts aside, Commit spends them, Release gives
them back."""

from __future__ import annotations

from services.quota import convert, validate
from services.quota.deps import Deps
from services.quota.errors import ERRORS
from services.quota.store import reservations, reserve_commit
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Problems, Rpcs, current_caller
from zerog_grpc.errormap import each_item
from zerog_grpc.handlers import Context

# The most commits one CommitBatch may carry.
MAX_BATCH = 500


class ReservationRpcs(Rpcs[Deps]):
    """Reserve, Commit (one or a batch) and Release."""

    async def Reserve(self, request: pb.ReserveRequest, context: Context) -> pb.ReserveResponse:
        problems = validate.names(request, "subject", optional=("operation",))
        problems.request_id("request_id", request.request_id)
        validate.usage_items(problems, "items", request.items, need_positive=True)
        ttl = validate.ttl(problems, request, self.deps.default_ttl, self.deps.max_ttl)
        problems.raise_if_any("invalid ReserveRequest")
        ask = reserve_commit.Ask(
            request.subject, request.operation, convert.usage_items(list(request.items)), ttl
        )
        found = await reserve_commit.reserve(
            self.deps.pool,
            self.deps.once,
            reserve_commit.reserve_request(current_caller().service, request.request_id, ask),
            ask,
            self.deps.clock(),
            self.deps.default_tier,
        )
        return pb.ReserveResponse(reservation=convert.reservation(found))

    async def Commit(self, request: pb.CommitRequest, context: Context) -> pb.CommitResponse:
        return await self._commit(request, "invalid CommitRequest")

    async def CommitBatch(
        self, request: pb.CommitBatchRequest, context: Context
    ) -> pb.CommitBatchResponse:
        problems = Problems()
        problems.within("commits", len(request.commits), 1, MAX_BATCH)
        problems.raise_if_any("invalid CommitBatchRequest")
        results = await each_item(
            enumerate(request.commits),
            lambda item: self._commit(item[1], f"invalid commits[{item[0]}]"),
            ERRORS,
            pb.CommitResult,
            "committed",
        )
        return pb.CommitBatchResponse(results=results)

    async def _commit(self, request: pb.CommitRequest, invalid: str) -> pb.CommitResponse:
        problems = Problems()
        validate.reservation_id(problems, "reservation_id", request.reservation_id)
        validate.usage_items(problems, "items", request.items, need_positive=False)
        for key, value in request.metadata.items():
            problems.name(f"metadata[{key[:40]}]", key)
            if len(value) > 4096:
                problems.add(f"metadata[{key[:40]}]", "values are at most 4096 characters")
        problems.raise_if_any(invalid)
        reservation, record = await reserve_commit.commit(
            self.deps.pool,
            self.deps.once,
            current_caller().service,
            request.reservation_id,
            convert.usage_items(list(request.items)),
            dict(request.metadata),
            self.deps.clock(),
            self.deps.default_tier,
        )
        return pb.CommitResponse(
            reservation=convert.reservation(reservation), cost_record=convert.cost_record(record)
        )

    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.ReleaseResponse:
        problems = Problems()
        validate.reservation_id(problems, "reservation_id", request.reservation_id)
        problems.raise_if_any("invalid ReleaseRequest")
        found = await reservations.release(
            self.deps.pool, current_caller().service, request.reservation_id, self.deps.clock()
        )
        return pb.ReleaseResponse(reservation=convert.reservation(found))
