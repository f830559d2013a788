"""Chat sessions: create, read, list, update the portfolio context, archive and delete."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.inference.calls import check_routing
from services.inference.deps import Context, Deps
from services.inference.errors import SessionArchived, SessionNotFound
from services.inference.session_view import acting_user, check_owner, load, session_message
from services.inference.store import chat_sessions
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Problems, Rpcs, current_caller, request_ids

M = TypeVar("M", bound=Message)


def _changing(request: Any, name: str) -> None:
    """A change to one session: its request_id and session_id, or InvalidRequest."""
    problems = Problems()
    problems.request_id("request_id", request.request_id)
    problems.required("session_id", request.session_id)
    problems.raise_if_any(f"invalid {name}Request")


class SessionRpcs(Rpcs[Deps]):
    """The session itself; talking in it is MessageRpcs'."""

    async def CreateChatSession(
        self, request: pb.CreateChatSessionRequest, context: Context
    ) -> pb.CreateChatSessionResponse:
        problems = Problems()
        problems.request_id("request_id", request.request_id)
        if len(request.title) > 200:
            problems.add("title", "at most 200 characters")
        problems.required("user", request.user or current_caller().user)
        check_routing(problems, "routing", request.routing)
        problems.raise_if_any("invalid CreateChatSessionRequest")

        async def create(conn: Connection) -> pb.CreateChatSessionResponse:
            now = self.deps.now()
            session_id = await chat_sessions.create_session(
                conn,
                user_id=acting_user(request.user),
                title=request.title,
                model=request.model,
                routing=request.routing.SerializeToString(),
                context=request.portfolio_context.SerializeToString()
                if request.HasField("portfolio_context")
                else None,
                system_prompt=request.system_prompt,
                now=now,
            )
            return pb.CreateChatSessionResponse(session=await load(conn, session_id, now))

        return await self._once("CreateChatSession", request, pb.CreateChatSessionResponse, create)

    async def GetChatSession(
        self, request: pb.GetChatSessionRequest, context: Context
    ) -> pb.GetChatSessionResponse:
        problems = Problems()
        problems.required("session_id", request.session_id)
        problems.raise_if_any("invalid GetChatSessionRequest")
        session = await load(self.deps.pool, request.session_id, self.deps.now())
        check_owner(session.user, acting_user(request.user))
        return pb.GetChatSessionResponse(session=session)

    async def ListChatSessions(
        self, request: pb.ListChatSessionsRequest, context: Context
    ) -> pb.ListChatSessionsResponse:
        problems = Problems()
        size = request.page_size or 50
        problems.within("page_size", size, 1, 200)
        after = None
        if request.page_token:
            try:
                raw = json.loads(base64.urlsafe_b64decode(request.page_token))
                after = (datetime.fromisoformat(raw[0]), str(raw[1]))
            except (ValueError, TypeError, IndexError):
                problems.add("page_token", "not a token from a previous response")
        user = acting_user(request.user)
        problems.required("user", user)
        problems.raise_if_any("invalid ListChatSessionsRequest")
        rows = await chat_sessions.list_sessions(
            self.deps.pool,
            user,
            include_archived=request.include_archived,
            limit=size + 1,
            after=after,
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = base64.urlsafe_b64encode(
                json.dumps([rows[-1].created_at.isoformat(), rows[-1].session_id]).encode()
            ).decode()
        now = self.deps.now()
        return pb.ListChatSessionsResponse(
            sessions=[session_message(r, [], now) for r in rows], next_page_token=token
        )

    async def UpdatePortfolioContext(
        self, request: pb.UpdatePortfolioContextRequest, context: Context
    ) -> pb.UpdatePortfolioContextResponse:
        _changing(request, "UpdatePortfolioContext")

        async def update(conn: Connection) -> pb.UpdatePortfolioContextResponse:
            row = await chat_sessions.get_session(conn, request.session_id, lock=True)
            check_owner(row.user_id, acting_user(request.user))
            if row.state == "archived":
                raise SessionArchived(row.session_id)
            now = self.deps.now()
            raw = request.portfolio_context.SerializeToString()
            await chat_sessions.set_context(conn, request.session_id, raw, now)
            return pb.UpdatePortfolioContextResponse(
                session=await load(conn, request.session_id, now)
            )

        return await self._once(
            "UpdatePortfolioContext", request, pb.UpdatePortfolioContextResponse, update
        )

    async def ArchiveChatSession(
        self, request: pb.ArchiveChatSessionRequest, context: Context
    ) -> pb.ArchiveChatSessionResponse:
        _changing(request, "ArchiveChatSession")

        async def archive() -> pb.ArchiveChatSessionResponse:
            session = await load(self.deps.pool, request.session_id, self.deps.now())
            check_owner(session.user, acting_user(request.user))
            if session.state != pb.CHAT_SESSION_STATE_ARCHIVED:
                archive_id = await self.deps.archiver.archive(
                    session, request_ids.scoped(current_caller().service, request.request_id)
                )
                async with self.deps.pool.acquire() as conn, conn.transaction():
                    await chat_sessions.archive(
                        conn, request.session_id, archive_id, self.deps.now()
                    )
                session = await load(self.deps.pool, request.session_id, self.deps.now())
            return pb.ArchiveChatSessionResponse(session=session)

        # The archive is written to storage first (its own request id makes that once too).
        once = self.deps.request("ArchiveChatSession", request.request_id, request)
        return await self.deps.once.run(once, pb.ArchiveChatSessionResponse, archive)

    async def DeleteChatSession(
        self, request: pb.DeleteChatSessionRequest, context: Context
    ) -> pb.DeleteChatSessionResponse:
        _changing(request, "DeleteChatSession")

        async def delete(conn: Connection) -> pb.DeleteChatSessionResponse:
            try:
                row = await chat_sessions.get_session(conn, request.session_id)
            except SessionNotFound:
                return pb.DeleteChatSessionResponse()  # already gone: done all the same
            check_owner(row.user_id, acting_user(request.user))
            if row.archive_id:  # first, so a failure leaves the session to delete again
                await self.deps.archiver.forget(row.archive_id)
            await chat_sessions.delete_session(conn, request.session_id)
            return pb.DeleteChatSessionResponse()

        return await self._once("DeleteChatSession", request, pb.DeleteChatSessionResponse, delete)

    async def _once(
        self,
        method: str,
        request: Any,
        answer_type: type[M],
        work: Callable[[Connection], Awaitable[M]],
    ) -> M:
        """`work(conn)` once per request_id: its writes and the stored answer commit together."""
        once = self.deps.request(method, request.request_id, request)
        return await self.deps.once.run_in_transaction(once, answer_type, work)
