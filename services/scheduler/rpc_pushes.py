"""RPCs through which the host app pushes data: portfolio snapshots and news items."""

from __future__ import annotations

from services.scheduler import convert, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.figures import day_figures
from services.scheduler.store import pushed, users
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_db import Executor
from zerog_grpc import Problems, current_caller, request_ids


class PushRpcs:
    """Snapshots and news, each push stored once per request_id of its caller."""

    deps: Deps

    async def PushPortfolioSnapshot(
        self, request: pb.PushPortfolioSnapshotRequest, context: Context
    ) -> pb.PushPortfolioSnapshotResponse:
        problems = Problems()
        problems.request_id("request_id", request.request_id)
        validate.snapshot(problems, request.snapshot)
        problems.raise_if_any("invalid PushPortfolioSnapshotRequest")
        snapshot = convert.snapshot_from_pb(request.snapshot)
        # The same id from another service is another snapshot.
        scoped = request_ids.scoped(current_caller().service, request.request_id)

        async def push(conn: Executor) -> pb.PushPortfolioSnapshotResponse:
            await users.get_user(conn, snapshot.user_id)
            await pushed.add_snapshot(conn, snapshot, scoped)
            figures = day_figures(snapshot)
            return pb.PushPortfolioSnapshotResponse(
                value_micro_usd=figures.value_micro_usd,
                day_change_micro_usd=figures.change_micro_usd,
                day_change_bps=figures.change_bps,
            )

        key = self.deps.key(request.request_id, request)
        return await self.deps.once.run_in_transaction(key, pb.PushPortfolioSnapshotResponse, push)

    async def PushNewsItems(
        self, request: pb.PushNewsItemsRequest, context: Context
    ) -> pb.PushNewsItemsResponse:
        problems = Problems()
        problems.request_id("request_id", request.request_id)
        validate.news(problems, request.items)
        problems.raise_if_any("invalid PushNewsItemsRequest")
        items = [convert.news_from_pb(i) for i in request.items]

        async def push(conn: Executor) -> pb.PushNewsItemsResponse:
            return pb.PushNewsItemsResponse(stored=await pushed.add_news(conn, items))

        key = self.deps.key(request.request_id, request)
        return await self.deps.once.run_in_transaction(key, pb.PushNewsItemsResponse, push)
