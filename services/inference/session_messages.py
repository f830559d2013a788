"""SendChatMessage and StreamChatMessage: the prompt with context, the reply, compression."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc

from services.inference import convert, sessions, store
from services.inference.calls import build_call, refuse_unverified
from services.inference.chat import ChatCall, ChatOutcome
from services.inference.claims import Claim
from services.inference.errors import SessionArchived
from services.inference.faults import Context, fail
from services.inference.session_base import SessionBase, acting_user, check_owner, context_text
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import abort, bad_request, current_caller

log = logging.getLogger("services.inference.sessions")


class SessionMessaging(SessionBase):
    """Talking in a session, unary or streamed; a retried request_id replays the answer."""

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
                check_owner(row, acting_user(request.user))
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
        self,
        request: pb.SendChatMessageRequest,
        claim: Claim,
        call: ChatCall,
        outcome: ChatOutcome,
        stale: bool,
    ) -> pb.SendChatMessageResponse:
        now = self._now()
        sid = request.session_id
        async with self._pool.acquire() as conn, conn.transaction():
            await self._hold(conn, claim)
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
        try:
            compressed = await self._compress(call, sid)
        except Exception:
            # The exchange is stored, so this answer stands and its claim must be finished with
            # it: a failure here would release the claim and a retry would store (and pay for)
            # the exchange twice. The history stays over the limit until the next message,
            # whose compression plan covers it again.
            log.warning(
                "compression failed; the next message retries it",
                exc_info=True,
                extra={"session_id": sid},
            )
            compressed = False
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

        async def run(claim: Claim) -> pb.SendChatMessageResponse:
            outcome = await self._engine.complete(call)
            refuse_unverified(call, outcome)
            return await self._store_reply(request, claim, call, outcome, stale)

        response: pb.SendChatMessageResponse = await self._once(
            "SendChatMessage", request, context, run, pb.SendChatMessageResponse.FromString
        )
        return response

    async def StreamChatMessage(
        self, request: pb.StreamChatMessageRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatMessageResponse]:
        inner = request.request
        call, _, stale = await self._prepare(inner, context)
        key = convert.fingerprint(inner)
        try:
            got = await self._claims.claim(
                current_caller().service, "SendChatMessage", inner.request_id, key
            )
            if isinstance(got, bytes):
                yield pb.StreamChatMessageResponse(
                    result=pb.SendChatMessageResponse.FromString(got)
                )
                return
            try:
                async for event in self._engine.stream(call):
                    if isinstance(event, str):
                        yield pb.StreamChatMessageResponse(content_delta=event)
                        continue
                    refuse_unverified(call, event)
                    result = await self._store_reply(inner, got, call, event, stale)
                    await self._claims.finish(got, result.SerializeToString())
                    yield pb.StreamChatMessageResponse(result=result)
            except BaseException:
                await self._claims.release(got)
                raise
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)
