"""Talking in a session: the prompt with the portfolio context, the stored exchange, and the
compression that keeps a long session short."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.inference import convert, sessions
from services.inference.calls import build_call
from services.inference.chat import ChatCall, ChatOutcome
from services.inference.deps import Deps
from services.inference.errors import SessionArchived
from services.inference.retry import Deadline
from services.inference.session_view import acting_user, check_owner, context_text, load
from services.inference.store import chat_sessions
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Claim, RequestInProgress
from zerog_grpc import Problems

log = logging.getLogger("services.inference.sessions")
STALE_NOTE = " (This portfolio context is more than 15 minutes old: say so if it matters.)"


@dataclass(frozen=True)
class Turn:
    """One message to answer: the call to make and whether its portfolio context was stale."""

    call: ChatCall
    stale: bool


async def prepare(deps: Deps, request: pb.SendChatMessageRequest, deadline: Deadline) -> Turn:
    """The call answering `request` in its session: history, then the portfolio context after
    the system prompts, then the new message. Bad fields are reported before the session is."""
    problems = Problems()
    if not request.content.strip():
        problems.add("content", "must not be empty")
    problems.required("session_id", request.session_id)
    row = None
    history: list[chat_sessions.MessageRow] = []
    try:
        if request.session_id:
            row = await chat_sessions.get_session(deps.pool, request.session_id)
            check_owner(row.user_id, acting_user(request.user))
            if row.state == "archived":
                raise SessionArchived(row.session_id)
            history = await chat_sessions.messages(deps.pool, request.session_id)
    except Exception:
        if not problems:
            raise
    stale = row is not None and sessions.is_stale(row.context_updated_at, deps.now())
    messages = [pb.ChatMessage(role=convert.ROLE_OF[m.role], content=m.content) for m in history]
    if row is not None and row.portfolio_context:
        note = context_text(row.portfolio_context) + (STALE_NOTE if stale else "")
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
    call = build_call(
        chat,
        deadline,
        invalid="invalid SendChatMessageRequest",
        operation="chat.session",
        problems=problems,
    )
    return Turn(call, stale)


async def store_reply(
    deps: Deps,
    request: pb.SendChatMessageRequest,
    claim: Claim,
    turn: Turn,
    outcome: ChatOutcome,
) -> pb.SendChatMessageResponse:
    """Store the exchange (only while `claim` holds), compress if due, and the answer."""
    now = deps.now()
    sid = request.session_id
    tokens = outcome.prompt_tokens + outcome.completion_tokens
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await deps.once.holds(claim, conn):
            # This call outlived its lease and a later one took its request_id over: the
            # session changes once, by that one.
            raise RequestInProgress(claim.request.request_id, deps.once.retry_after)
        await chat_sessions.get_session(conn, sid, lock=True)
        await chat_sessions.add_messages(
            conn,
            sid,
            [
                chat_sessions.NewMessage("user", request.content),
                chat_sessions.NewMessage(
                    "assistant",
                    outcome.content,
                    tokens=tokens,
                    provider=outcome.provider,
                    model=outcome.model,
                ),
            ],
            now,
        )
        await chat_sessions.record_reply(
            conn, sid, tokens=tokens, provider=outcome.provider, model=outcome.model, now=now
        )
    try:
        compressed = await _compress(deps, turn.call, sid)
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
    session = await load(deps.pool, sid, deps.now())
    reply = next(
        m for m in reversed(session.messages) if m.role == pb.CHAT_ROLE_ASSISTANT and not m.summary
    )
    return pb.SendChatMessageResponse(
        reply=reply,
        session=session,
        context_stale=turn.stale,
        compressed=compressed,
        **convert.accounting(outcome),
    )


async def _compress(deps: Deps, call: ChatCall, session_id: str) -> bool:
    kept = await chat_sessions.messages(deps.pool, session_id)
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
    outcome = await deps.engine.complete(summary_call)
    # Paid for whatever becomes of the summary below: owed before anything else can fail.
    await deps.engine.settlements.alone(outcome.settlement)
    tokens = outcome.prompt_tokens + outcome.completion_tokens
    now = deps.now()
    async with deps.pool.acquire() as conn, conn.transaction():
        await chat_sessions.get_session(conn, session_id, lock=True)
        await chat_sessions.compress(
            conn,
            session_id,
            [m.message_id for m in plan.summarise],
            chat_sessions.NewMessage(
                "system",
                outcome.content,
                summary=True,
                tokens=tokens,
                provider=outcome.provider,
                model=outcome.model,
            ),
            now,
        )
        await chat_sessions.record_reply(
            conn, session_id, tokens=tokens, provider="", model="", now=now
        )
    return True
