"""ChatSessionService servicer: conversations in schema `inference`, compressed and archived."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import grpc

from services.inference import store
from services.inference.calls import check_request_id, check_routing
from services.inference.claims import Claim
from services.inference.errors import NotSessionOwner, SessionArchived, SessionNotFound
from services.inference.faults import Context, fail
from services.inference.session_base import acting_user, check_owner
from services.inference.session_messages import SessionMessaging
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import abort, bad_request, current_caller, request_ids

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ChatSessionService"].full_name


class ChatSessionService(SessionMessaging):
    """Create, talk in, read, list, update, archive and delete chat sessions."""

    async def CreateChatSession(
        self, request: pb.CreateChatSessionRequest, context: Context
    ) -> pb.CreateChatSessionResponse:
        problems: dict[str, str] = {}
        check_request_id(problems, "request_id", request.request_id)
        if len(request.title) > 200:
            problems["title"] = "at most 200 characters"
        if not (request.user or current_caller().user):
            problems["user"] = "required"
        check_routing(problems, "routing", request.routing)
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid CreateChatSessionRequest",
                bad_request(problems),
            )

        async def run(claim: Claim) -> pb.CreateChatSessionResponse:
            user = acting_user(request.user)
            context_raw = (
                request.portfolio_context.SerializeToString()
                if request.HasField("portfolio_context")
                else None
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await self._hold(conn, claim)
                session_id = await store.create_session(
                    conn,
                    user_id=user,
                    title=request.title,
                    model=request.model,
                    routing=request.routing.SerializeToString(),
                    context=context_raw,
                    system_prompt=request.system_prompt,
                    now=self._now(),
                )
            return pb.CreateChatSessionResponse(session=await self._session(session_id))

        response: pb.CreateChatSessionResponse = await self._once(
            "CreateChatSession", request, context, run, pb.CreateChatSessionResponse.FromString
        )
        return response

    async def GetChatSession(
        self, request: pb.GetChatSessionRequest, context: Context
    ) -> pb.GetChatSessionResponse:
        if not request.session_id:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid GetChatSessionRequest",
                bad_request({"session_id": "required"}),
            )
        try:
            session = await self._session(request.session_id)
            if session.user != acting_user(request.user):
                raise NotSessionOwner("the session belongs to another user")
        except Exception as error:
            await fail(context, error)
        return pb.GetChatSessionResponse(session=session)

    async def ListChatSessions(
        self, request: pb.ListChatSessionsRequest, context: Context
    ) -> pb.ListChatSessionsResponse:
        problems: dict[str, str] = {}
        size = request.page_size or 50
        if not 1 <= size <= 200:
            problems["page_size"] = "must be between 1 and 200"
        after = None
        if request.page_token:
            try:
                raw = json.loads(base64.urlsafe_b64decode(request.page_token))
                after = (datetime.fromisoformat(raw[0]), str(raw[1]))
            except (ValueError, TypeError, IndexError):
                problems["page_token"] = "not a token from a previous response"
        try:
            user = acting_user(request.user)
        except Exception as error:
            await fail(context, error)
        if not user:
            problems["user"] = "required"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid ListChatSessionsRequest",
                bad_request(problems),
            )
        rows = await store.list_sessions(
            self._pool, user, include_archived=request.include_archived, limit=size + 1, after=after
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = base64.urlsafe_b64encode(
                json.dumps([rows[-1].created_at.isoformat(), rows[-1].session_id]).encode()
            ).decode()
        return pb.ListChatSessionsResponse(
            sessions=[self._message(r, []) for r in rows], next_page_token=token
        )

    async def UpdatePortfolioContext(
        self, request: pb.UpdatePortfolioContextRequest, context: Context
    ) -> pb.UpdatePortfolioContextResponse:
        problems: dict[str, str] = {}
        check_request_id(problems, "request_id", request.request_id)
        if not request.session_id:
            problems["session_id"] = "required"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid UpdatePortfolioContextRequest",
                bad_request(problems),
            )

        async def run(claim: Claim) -> pb.UpdatePortfolioContextResponse:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._hold(conn, claim)
                row = await store.get_session(conn, request.session_id, lock=True)
                check_owner(row, acting_user(request.user))
                if row.state == "archived":
                    raise SessionArchived(row.session_id)
                await store.set_context(
                    conn,
                    request.session_id,
                    request.portfolio_context.SerializeToString(),
                    self._now(),
                )
            return pb.UpdatePortfolioContextResponse(
                session=await self._session(request.session_id)
            )

        response: pb.UpdatePortfolioContextResponse = await self._once(
            "UpdatePortfolioContext",
            request,
            context,
            run,
            pb.UpdatePortfolioContextResponse.FromString,
        )
        return response

    async def ArchiveChatSession(
        self, request: pb.ArchiveChatSessionRequest, context: Context
    ) -> pb.ArchiveChatSessionResponse:
        problems: dict[str, str] = {}
        check_request_id(problems, "request_id", request.request_id)
        if not request.session_id:
            problems["session_id"] = "required"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid ArchiveChatSessionRequest",
                bad_request(problems),
            )
        try:
            session = await self._session(request.session_id)
            if session.user != acting_user(request.user):
                raise NotSessionOwner("the session belongs to another user")
            if session.state != pb.CHAT_SESSION_STATE_ARCHIVED:
                archive_id = await self._archiver.archive(
                    session, request_ids.scoped(current_caller().service, request.request_id)
                )
                async with self._pool.acquire() as conn, conn.transaction():
                    await store.archive(conn, request.session_id, archive_id, self._now())
                session = await self._session(request.session_id)
        except Exception as error:
            await fail(context, error)
        return pb.ArchiveChatSessionResponse(session=session)

    async def DeleteChatSession(
        self, request: pb.DeleteChatSessionRequest, context: Context
    ) -> pb.DeleteChatSessionResponse:
        problems: dict[str, str] = {}
        check_request_id(problems, "request_id", request.request_id)
        if not request.session_id:
            problems["session_id"] = "required"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid DeleteChatSessionRequest",
                bad_request(problems),
            )
        try:
            row = await store.get_session(self._pool, request.session_id)
            check_owner(row, acting_user(request.user))
            await store.delete_session(self._pool, request.session_id)
        except Exception as error:
            if not isinstance(error, SessionNotFound):
                await fail(context, error)
        return pb.DeleteChatSessionResponse()
