"""RPCs of the host app: users' preferences, pushed portfolio data and news, delivery records."""

from __future__ import annotations

import asyncpg

from services.scheduler import convert, data, outbox, users, validate
from services.scheduler.errors import BadPageToken, SchedulerError, UserNotFound
from services.scheduler.figures import day_figures
from services.scheduler.rpc_base import Context, Deps, fail, invalid
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import current_caller, request_ids


class UserRpcs:
    """Preferences, pushed data and deliveries."""

    deps: Deps

    async def SetUserPreferences(
        self, request: pb.SetUserPreferencesRequest, context: Context
    ) -> pb.SetUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.preferences(problems, request.preferences)
        if problems:
            await invalid(context, "SetUserPreferencesRequest", problems)
        user = convert.user_from_pb(request.preferences, self.deps.default_threshold_bps)
        stored = await users.set_user(self.deps.pool, user, self.deps.clock())
        return pb.SetUserPreferencesResponse(preferences=convert.user_to_pb(stored))

    async def GetUserPreferences(
        self, request: pb.GetUserPreferencesRequest, context: Context
    ) -> pb.GetUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "user_id", request.user_id)
        if problems:
            await invalid(context, "GetUserPreferencesRequest", problems)
        try:
            user = await users.get_user(self.deps.pool, request.user_id)
        except SchedulerError as error:
            await fail(context, error)
        return pb.GetUserPreferencesResponse(preferences=convert.user_to_pb(user))

    async def ListUserPreferences(
        self, request: pb.ListUserPreferencesRequest, context: Context
    ) -> pb.ListUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.page_size(problems, request.page_size)
        after = ""
        if request.page_token:
            try:
                after = validate.decode_token(request.page_token, 1)[0]
            except BadPageToken:
                problems["page_token"] = "not a page token from this service"
        if problems:
            await invalid(context, "ListUserPreferencesRequest", problems)
        size = request.page_size or 50
        found = await users.list_users(self.deps.pool, after, size + 1)
        token = validate.encode_token(found[size - 1].user_id) if len(found) > size else ""
        return pb.ListUserPreferencesResponse(
            preferences=[convert.user_to_pb(u) for u in found[:size]], next_page_token=token
        )

    async def DeleteUserPreferences(
        self, request: pb.DeleteUserPreferencesRequest, context: Context
    ) -> pb.DeleteUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.name(problems, "user_id", request.user_id)
        if problems:
            await invalid(context, "DeleteUserPreferencesRequest", problems)
        deleted = await users.delete_user(self.deps.pool, request.user_id)
        return pb.DeleteUserPreferencesResponse(deleted=deleted)

    async def PushPortfolioSnapshot(
        self, request: pb.PushPortfolioSnapshotRequest, context: Context
    ) -> pb.PushPortfolioSnapshotResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.snapshot(problems, request.snapshot)
        if problems:
            await invalid(context, "PushPortfolioSnapshotRequest", problems)
        snapshot = convert.snapshot_from_pb(request.snapshot)
        try:
            await users.get_user(self.deps.pool, snapshot.user_id)
            # Stored once per request_id of the calling service: the same id from another
            # service is another snapshot.
            await data.add_snapshot(
                self.deps.pool,
                snapshot,
                request_ids.scoped(current_caller().service, request.request_id),
            )
        except asyncpg.ForeignKeyViolationError:
            await fail(context, UserNotFound(snapshot.user_id))
        except SchedulerError as error:
            await fail(context, error)
        figures = day_figures(snapshot)
        return pb.PushPortfolioSnapshotResponse(
            value_micro_usd=figures.value_micro_usd,
            day_change_micro_usd=figures.change_micro_usd,
            day_change_bps=figures.change_bps,
        )

    async def PushNewsItems(
        self, request: pb.PushNewsItemsRequest, context: Context
    ) -> pb.PushNewsItemsResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.news(problems, request.items)
        if problems:
            await invalid(context, "PushNewsItemsRequest", problems)
        stored = await data.add_news(
            self.deps.pool, [convert.news_from_pb(i) for i in request.items]
        )
        return pb.PushNewsItemsResponse(stored=stored)

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Context
    ) -> pb.ListDeliveriesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "user_id", request.user_id, required=False)
        validate.name(problems, "job_name", request.job_name, required=False)
        validate.page_size(problems, request.page_size)
        if request.state and request.state not in convert.DELIVERY_STATE_FROM_PB:
            problems["state"] = "unknown delivery state"
        before = None
        if request.page_token:
            try:
                when, last_id = validate.decode_token(request.page_token, 2)
                before = (validate.token_time(when), last_id)
            except BadPageToken:
                problems["page_token"] = "not a page token from this service"
        if problems:
            await invalid(context, "ListDeliveriesRequest", problems)
        size = request.page_size or 50
        query = outbox.DeliveryQuery(
            request.user_id,
            request.job_name,
            convert.DELIVERY_STATE_FROM_PB.get(request.state, ""),
            before,
            size + 1,
        )
        found = await outbox.list_deliveries(self.deps.pool, query)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = validate.encode_token(last.created_at.isoformat(), last.id)
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery(d) for d in found[:size]], next_page_token=token
        )
