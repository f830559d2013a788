"""A chat session as callers see it, and who may see it: the acting user and ownership."""

from __future__ import annotations

from datetime import datetime

from services.inference import convert, sessions
from services.inference.errors import NotSessionOwner
from services.inference.store import chat_sessions
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Executor
from zerog_grpc import current_caller

STATES = {"active": pb.CHAT_SESSION_STATE_ACTIVE, "archived": pb.CHAT_SESSION_STATE_ARCHIVED}


def acting_user(given: str) -> str:
    """The session user: as given, else the JWT's; a JWT user may only act for itself."""
    caller = current_caller()
    if caller.user and given and given != caller.user:
        raise NotSessionOwner(f"the caller acts for {caller.user}, not {given}")
    return given or caller.user


def check_owner(owner: str, user: str) -> None:
    """NotSessionOwner unless `user` owns the session."""
    if owner != user:
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


def _message(m: chat_sessions.MessageRow) -> pb.SessionMessage:
    message = pb.SessionMessage(
        message_id=m.message_id,
        role=convert.ROLE_OF[m.role],
        content=m.content,
        summary=m.summary,
        tokens=m.tokens,
        provider=m.provider,
        model=m.model,
    )
    message.create_time.FromDatetime(m.created_at)
    return message


def session_message(
    row: chat_sessions.SessionRow, kept: list[chat_sessions.MessageRow], now: datetime
) -> pb.ChatSession:
    """The session with the messages `kept`; its context is stale as of `now`."""
    s = pb.ChatSession(
        session_id=row.session_id,
        user=row.user_id,
        title=row.title,
        model=row.model,
        routing=pb.RoutingOptions.FromString(row.routing),
        state=STATES[row.state],
        context_stale=sessions.is_stale(row.context_updated_at, now),
        tokens_used=row.tokens_used,
        last_provider=row.last_provider,
        last_model=row.last_model,
        compressions=row.compressions,
        archive_id=row.archive_id,
        messages=[_message(m) for m in kept],
    )
    if row.portfolio_context is not None:
        s.portfolio_context.ParseFromString(row.portfolio_context)
    if row.context_updated_at is not None:
        s.context_update_time.FromDatetime(row.context_updated_at)
    s.create_time.FromDatetime(row.created_at)
    s.update_time.FromDatetime(row.updated_at)
    return s


async def load(db: Executor, session_id: str, now: datetime) -> pb.ChatSession:
    """The session and its messages; SessionNotFound if there is none."""
    row = await chat_sessions.get_session(db, session_id)
    return session_message(row, await chat_sessions.messages(db, session_id), now)
