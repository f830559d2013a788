"""Shared by the ChatSessionService RPCs: who acts, ownership, the session view, run-once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
import grpc

from services.inference import convert, sessions, store
from services.inference.archive import Archiver
from services.inference.chat import ChatEngine
from services.inference.claims import Claim, Claims, run_once
from services.inference.errors import NotSessionOwner, RequestInProgress
from services.inference.faults import Context, fail
from services.inference.retry import Clock
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_db.pool import Executor
from zerog_grpc import current_caller

WallClock = Callable[[], datetime]
STATES = {"active": pb.CHAT_SESSION_STATE_ACTIVE, "archived": pb.CHAT_SESSION_STATE_ARCHIVED}


def acting_user(given: str) -> str:
    """The session user: as given, else the JWT's; a JWT user may only act for itself."""
    caller = current_caller()
    if caller.user and given and given != caller.user:
        raise NotSessionOwner(f"the caller acts for {caller.user}, not {given}")
    return given or caller.user


def check_owner(row: store.SessionRow, user: str) -> None:
    """NotSessionOwner unless `user` owns the session."""
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


class SessionBase(inference_service_pb2_grpc.ChatSessionServiceServicer):
    """The pool, engine, archiver and clocks; reading a session; running an RPC once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: ChatEngine,
        archiver: Archiver,
        clock: Clock,
        now: WallClock,
        claims: Claims,
    ) -> None:
        self._pool = pool
        self._claims = claims
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

    async def _hold(self, conn: Executor, claim: Claim) -> None:
        """Lock this call's claim in the session write's transaction; RequestInProgress if a
        later call took it over (this one outlived its lease), so the session changes once."""
        if not await self._claims.owns(conn, claim):
            raise RequestInProgress(claim.request_id, self._claims.retry_after)

    async def _once(
        self,
        method: str,
        request: Any,
        context: Context,
        run: Callable[[Claim], Any],
        parse: Callable[[bytes], Any],
    ) -> Any:
        """Run `run` (given its claim) once per (caller, request_id); retries get the stored
        answer, a concurrent duplicate RequestInProgress (ABORTED)."""

        async def claimed(claim: Claim) -> tuple[Any, dict[str, str]]:
            return await run(claim), {}

        try:
            return await run_once(
                self._claims,
                current_caller().service,
                method,
                request.request_id,
                convert.fingerprint(request),
                claimed,
                parse,
            )
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)
