"""RPCs of the host app about its users: set, get, list and delete their preferences."""

from __future__ import annotations

from services.scheduler import convert, pages, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.store import users
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_db import Executor
from zerog_grpc import Problems, Rpcs


class UserRpcs(Rpcs[Deps]):
    """Users' preferences."""

    async def SetUserPreferences(
        self, request: pb.SetUserPreferencesRequest, context: Context
    ) -> pb.SetUserPreferencesResponse:
        problems = Problems()
        validate.preferences(problems, request.preferences)

        async def store(conn: Executor) -> pb.SetUserPreferencesResponse:
            user = convert.user_from_pb(request.preferences, self.deps.default_threshold_bps)
            stored = await users.set_user(conn, user, self.deps.clock())
            return pb.SetUserPreferencesResponse(preferences=convert.user_to_pb(stored))

        answer = pb.SetUserPreferencesResponse
        return await self.deps.transaction(request.request_id, request, problems, answer, store)

    async def GetUserPreferences(
        self, request: pb.GetUserPreferencesRequest, context: Context
    ) -> pb.GetUserPreferencesResponse:
        validate.named("user_id", request.user_id).raise_if_any("invalid GetUserPreferencesRequest")
        user = await users.get_user(self.deps.pool, request.user_id)
        return pb.GetUserPreferencesResponse(preferences=convert.user_to_pb(user))

    async def ListUserPreferences(
        self, request: pb.ListUserPreferencesRequest, context: Context
    ) -> pb.ListUserPreferencesResponse:
        problems = Problems()
        after = pages.cursor(problems, request.page_size, request.page_token, lambda p: p[0], "")
        problems.raise_if_any("invalid ListUserPreferencesRequest")
        size = request.page_size or pages.DEFAULT_SIZE
        found = await users.list_users(self.deps.pool, after, size + 1)
        shown, token = pages.page(found, size, lambda user: (user.user_id,))
        return pb.ListUserPreferencesResponse(
            preferences=[convert.user_to_pb(u) for u in shown], next_page_token=token
        )

    async def DeleteUserPreferences(
        self, request: pb.DeleteUserPreferencesRequest, context: Context
    ) -> pb.DeleteUserPreferencesResponse:
        problems = validate.named("user_id", request.user_id)

        async def delete(conn: Executor) -> pb.DeleteUserPreferencesResponse:
            deleted = await users.delete_user(conn, request.user_id)
            return pb.DeleteUserPreferencesResponse(deleted=deleted)

        answer = pb.DeleteUserPreferencesResponse
        return await self.deps.transaction(request.request_id, request, problems, answer, delete)
