"""RPCs through which the host app pushes data: portfolio snapshots and news items."""

from __future__ import annotations

from services.scheduler import convert, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.figures import day_figures
from services.scheduler.store import pushed, users
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_db import Executor
from zerog_grpc import Problems, Rpcs, current_caller, request_ids


class PushRpcs(Rpcs[Deps]):
    """Snapshots and news, each push stored once per request_id of its caller."""

    async def PushPortfolioSnapshot(
        self, request: pb.PushPortfolioSnapshotRequest, context: Context
    ) -> pb.PushPortfolioSnapshotResponse:
        problems = Problems()
        validate.snapshot(problems, request.snapshot)
        # The same id from another service is another snapshot.
        scoped = request_ids.scoped(current_caller().service, request.request_id)

        async def push(conn: Executor) -> pb.PushPortfolioSnapshotResponse:
            snapshot = convert.snapshot_from_pb(request.snapshot)
            await users.get_user(conn, snapshot.user_id)
            await pushed.add_snapshot(conn, snapshot, scoped)
            figures = day_figures(snapshot)
            return pb.PushPortfolioSnapshotResponse(
                value_micro_usd=figures.value_micro_usd,
                day_change_micro_usd=figures.change_micro_usd,
                day_change_bps=figures.change_bps,
            )

        answer = pb.PushPortfolioSnapshotResponse
        return await self.deps.transaction(request.request_id, request, problems, answer, push)

    async def PushNewsItems(
        self, request: pb.PushNewsItemsRequest, context: Context
    ) -> pb.PushNewsItemsResponse:
        problems = Problems()
        validate.news(problems, request.items)

        async def push(conn: Executor) -> pb.PushNewsItemsResponse:
            items = [convert.news_from_pb(i) for i in request.items]
            return pb.PushNewsItemsResponse(stored=await pushed.add_news(conn, items))

        answer = pb.PushNewsItemsResponse
        return await self.deps.transaction(request.request_id, request, problems, answer, push)
