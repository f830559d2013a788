"""ChatSessionService servicer: conversations in schema `inference`, compressed and archived."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import asyncpg
import grpc

from services.inference import convert, sessions, store
from services.inference.archive import Archiver
from services.inference.chat import ChatCall, ChatEngine, ChatOutcome
from services.inference.errors import NotSessionOwner, SessionArchived
from services.inference.faults import Context, fail
from services.inference.retry import Clock
from services.inference.service import build_call, check_request_id, refuse_unverified
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc import abort, bad_request, current_caller

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ChatSessionService"].full_name
WallClock = Callable[[], datetime]
STATES = {"active": pb.CHAT_SESSION_STATE_ACTIVE, "archived": pb.CHAT_SESSION_STATE_ARCHIVED}


def _user(given: str) -> str:
    """The session user: as given, else the JWT's; a JWT user may only act for itself."""
    caller = current_caller()
    if caller.user and given and given != caller.user:
        raise NotSessionOwner(f"the caller acts for {caller.user}, not {given}")
    return given or caller.user


def _owned(row: store.SessionRow, user: str) -> None:
    if row.user_id != user:
        raise NotSessionOwner("the session belongs to another user")


def context_text(raw: bytes | None) -> str:
    """The portfolio context as the model reads it."""
    if not raw:
        return ""
    ctx = pb.PortfolioContext.FromString(raw)
    positions = ", ".join(
        f"{p.quantity} {p.symbol} (cost ${p.cost_basis_micro_usd / 1e6:.2f})" for p in ctx.positions
    )
    last = {s.symbol: s.close_micro_usd[-1] / 1e6 for s in ctx.price_history if s.close_micro_usd}
    prices = ", ".join(f"{k} ${v:.2f}" for k, v in last.items())
    notes = ctx.notes or "-"
    return f"User portfolio: {positions}. Latest prices: {prices or 'unknown'}. Notes: {notes}"


class ChatSessionService(inference_service_pb2_grpc.ChatSessionServiceServicer):
    """Create, talk in, read, list, update, archive and delete chat sessions."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: ChatEngine,
        archiver: Archiver,
        clock: Clock,
        now: WallClock,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._archiver = archiver
        self._clock = clock
        self._now = now

    async def _session(self, session_id: str, *, with_messages: bool = True) -> pb.ChatSession:
        row = await store.get_session(self._pool, session_id)
        kept = await store.messages(self._pool, session_id) if with_messages else []
        return self._message(row, kept)

    def _message(self, row: store.SessionRow, kept: list[store.MessageRow]) -> pb.ChatSession:
        s = pb.ChatSession(
            session_id=row.session_id,
            user=row.user_id,
            title=row.title,
            model=row.model,
            routing=pb.RoutingOptions.FromString(row.routing),
            state=STATES[row.state],
            context_stale=sessions.is_stale(row.context_updated_at, self._now()),
            tokens_used=row.tokens_used,
            last_provider=row.last_provider,
            last_model=row.last_model,
            compressions=row.compressions,
            archive_id=row.archive_id,
            messages=[
                pb.SessionMessage(
                    message_id=m.message_id,
                    role=convert.ROLE_OF[m.role],
                    content=m.content,
                    summary=m.summary,
                    tokens=m.tokens,
                    provider=m.provider,
                    model=m.model,
                )
                for m in kept
            ],
        )
        for msg, m in zip(s.messages, kept, strict=True):
            msg.create_time.FromDatetime(m.created_at)
        if row.portfolio_context is not None:
            s.portfolio_context.ParseFromString(row.portfolio_context)
        if row.context_updated_at is not None:
            s.context_update_time.FromDatetime(row.context_updated_at)
        s.create_time.FromDatetime(row.created_at)
        s.update_time.FromDatetime(row.updated_at)
        return s

    async def _once(
        self,
        method: str,
        request: Any,
        context: Context,
        run: Callable[[], Any],
        parse: Callable[[bytes], Any],
    ) -> Any:
        caller = current_caller().service
        key = convert.fingerprint(request)
        try:
            stored = await store.recall(self._pool, caller, method, request.request_id, key)
            if stored is not None:
                return parse(stored)
            response = await run()
            await store.remember(
                self._pool, caller, method, request.request_id, key, response.SerializeToString()
            )
            return response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)

    async def CreateChatSession(
        self, request: pb.CreateChatSessionRequest, context: Context
    ) -> pb.CreateChatSessionResponse:
        problems: dict[str, str] = {}
        check_request_id(problems, "request_id", request.request_id)
        if len(request.title) > 200:
            problems["title"] = "at most 200 characters"
        if not (request.user or current_caller().user):
            problems["user"] = "required"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid CreateChatSessionRequest",
                bad_request(problems),
            )

        async def run() -> pb.CreateChatSessionResponse:
            user = _user(request.user)
            context_raw = (
                request.portfolio_context.SerializeToString()
                if request.HasField("portfolio_context")
                else None
            )
            async with self._pool.acquire() as conn, conn.transaction():
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

    async def _prepare(
        self, request: pb.SendChatMessageRequest, context: Context
    ) -> tuple[ChatCall, store.SessionRow, bool]:
        problems: dict[str, str] = {}
        if not request.content.strip():
            problems["content"] = "must not be empty"
        if not request.session_id:
            problems["session_id"] = "required"
        row = None
        history: list[store.MessageRow] = []
        try:
            if request.session_id:
                row = await store.get_session(self._pool, request.session_id)
                _owned(row, _user(request.user))
                if row.state == "archived":
                    raise SessionArchived(row.session_id)
                history = await store.messages(self._pool, request.session_id)
        except Exception as error:
            if not problems:
                await fail(context, error)
        stale = row is not None and sessions.is_stale(row.context_updated_at, self._now())
        messages = [
            pb.ChatMessage(role=convert.ROLE_OF[m.role], content=m.content) for m in history
        ]
        if row is not None and row.portfolio_context:
            note = context_text(row.portfolio_context)
            if stale:
                note += (
                    " (This portfolio context is more than 15 minutes old: say so if it matters.)"
                )
            messages.insert(
                len([m for m in history if m.role == "system"]),
                pb.ChatMessage(role=pb.CHAT_ROLE_SYSTEM, content=note),
            )
        messages.append(pb.ChatMessage(role=pb.CHAT_ROLE_USER, content=request.content or " "))
        chat = pb.ChatCompletionRequest(
            request_id=request.request_id,
            model=row.model if row else "",
            messages=messages,
            routing=pb.RoutingOptions.FromString(row.routing) if row else None,
        )
        if request.HasField("temperature"):
            chat.temperature = request.temperature
        if request.HasField("max_tokens"):
            chat.max_tokens = request.max_tokens
        call, problems = build_call(
            chat, context, self._clock, operation="chat.session", problems=problems
        )
        if call is None or row is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid SendChatMessageRequest",
                bad_request(problems),
            )
        return call, row, stale

    async def _store_reply(
        self, request: pb.SendChatMessageRequest, call: ChatCall, outcome: ChatOutcome, stale: bool
    ) -> pb.SendChatMessageResponse:
        now = self._now()
        sid = request.session_id
        async with self._pool.acquire() as conn, conn.transaction():
            await store.get_session(conn, sid, lock=True)
            await store.add_messages(
                conn,
                sid,
                [
                    store.NewMessage("user", request.content),
                    store.NewMessage(
                        "assistant",
                        outcome.content,
                        tokens=outcome.prompt_tokens + outcome.completion_tokens,
                        provider=outcome.provider,
                        model=outcome.model,
                    ),
                ],
                now,
            )
            await store.record_reply(
                conn,
                sid,
                tokens=outcome.prompt_tokens + outcome.completion_tokens,
                provider=outcome.provider,
                model=outcome.model,
                now=now,
            )
        compressed = await self._compress(call, sid)
        session = await self._session(sid)
        reply = next(
            m
            for m in reversed(session.messages)
            if m.role == pb.CHAT_ROLE_ASSISTANT and not m.summary
        )
        return pb.SendChatMessageResponse(
            reply=reply,
            session=session,
            usage=convert.usage(outcome),
            cost=convert.cost(outcome),
            routing=convert.routing(outcome),
            verification=convert.verification(outcome),
            context_stale=stale,
            compressed=compressed,
        )

    async def _compress(self, call: ChatCall, session_id: str) -> bool:
        kept = await store.messages(self._pool, session_id)
        plan = sessions.plan_compression(
            [sessions.StoredMessage(m.message_id, m.role, m.content, m.summary) for m in kept]
        )
        if plan is None:
            return False
        summary_call = ChatCall(
            request_id=f"{call.request_id}:summary",
            subject=call.subject,
            user=call.user,
            model=call.model,
            messages=sessions.summary_prompt(plan),
            max_tokens=512,
            deadline=call.deadline,
            strategy=call.strategy,
            filters=call.filters,
            operation="chat.session.summary",
        )
        outcome = await self._engine.complete(summary_call)
        tokens = outcome.prompt_tokens + outcome.completion_tokens
        now = self._now()
        async with self._pool.acquire() as conn, conn.transaction():
            await store.get_session(conn, session_id, lock=True)
            await store.compress(
                conn,
                session_id,
                [m.message_id for m in plan.summarise],
                store.NewMessage(
                    "system",
                    outcome.content,
                    summary=True,
                    tokens=tokens,
                    provider=outcome.provider,
                    model=outcome.model,
                ),
                now,
            )
            await store.record_reply(
                conn, session_id, tokens=tokens, provider="", model="", now=now
            )
        return True

    async def SendChatMessage(
        self, request: pb.SendChatMessageRequest, context: Context
    ) -> pb.SendChatMessageResponse:
        call, _, stale = await self._prepare(request, context)

        async def run() -> pb.SendChatMessageResponse:
            outcome = await self._engine.complete(call)
            refuse_unverified(call, outcome)
            return await self._store_reply(request, call, outcome, stale)

        response: pb.SendChatMessageResponse = await self._once(
            "SendChatMessage", request, context, run, pb.SendChatMessageResponse.FromString
        )
        return response

    async def StreamChatMessage(
        self, request: pb.StreamChatMessageRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatMessageResponse]:
        inner = request.request
        call, _, stale = await self._prepare(inner, context)
        caller = current_caller().service
        key = convert.fingerprint(inner)
        try:
            stored = await store.recall(
                self._pool, caller, "SendChatMessage", inner.request_id, key
            )
            if stored is not None:
                yield pb.StreamChatMessageResponse(
                    result=pb.SendChatMessageResponse.FromString(stored)
                )
                return
            async for event in self._engine.stream(call):
                if isinstance(event, str):
                    yield pb.StreamChatMessageResponse(content_delta=event)
                    continue
                refuse_unverified(call, event)
                result = await self._store_reply(inner, call, event, stale)
                await store.remember(
                    self._pool,
                    caller,
                    "SendChatMessage",
                    inner.request_id,
                    key,
                    result.SerializeToString(),
                )
                yield pb.StreamChatMessageResponse(result=result)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)

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
            if session.user != _user(request.user):
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
            user = _user(request.user)
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

        async def run() -> pb.UpdatePortfolioContextResponse:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await store.get_session(conn, request.session_id, lock=True)
                _owned(row, _user(request.user))
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
            if session.user != _user(request.user):
                raise NotSessionOwner("the session belongs to another user")
            if session.state != pb.CHAT_SESSION_STATE_ARCHIVED:
                archive_id = await self._archiver.archive(session, request.request_id)
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
            _owned(row, _user(request.user))
            await store.delete_session(self._pool, request.session_id)
        except Exception as error:
            from services.inference.errors import SessionNotFound

            if not isinstance(error, SessionNotFound):
                await fail(context, error)
        return pb.DeleteChatSessionResponse()
