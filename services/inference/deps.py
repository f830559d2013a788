"""What every inference RPC uses, handed to the servicers as one object, and who a request_id
belongs to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import grpc.aio
from google.protobuf.message import Message

from services.inference.archive import Archiver
from services.inference.breaker import Breakers
from services.inference.calls import refuse_unverified
from services.inference.chat import ChatCall, ChatEngine, ChatOutcome
from services.inference.retry import Deadline
from services.inference.routing import ProviderStats
from services.inference.store import outbox, verifications
from zerog_db import Claim, Once, Request
from zerog_grpc import Clock, Monotonic, current_caller
from zerog_grpc.rate_permits import RatePermits

M = TypeVar("M", bound=Message)
Context = grpc.aio.ServicerContext[Any, Any]


def scope() -> str:
    """Who asked: the calling service, and the user it acts for (a space cannot be in a
    service's name), so two users' request ids never meet."""
    caller = current_caller()
    return f"{caller.service} {caller.user}" if caller.user else caller.service


async def last(events: AsyncIterator[str | M]) -> M:
    """The answer ending `events` (unary: the only one), read to their end so that a claim
    they hold is settled before the call returns."""
    answers = [event async for event in events if not isinstance(event, str)]
    return answers[-1]


@dataclass(frozen=True)
class Deps:
    """The pool, the chat engine and what reports on it, the archiver, idempotency, clocks."""

    pool: asyncpg.Pool
    engine: ChatEngine
    once: Once
    breakers: Breakers
    stats: ProviderStats
    archiver: Archiver
    monotonic: Monotonic
    """Measures the callers' deadlines."""
    now: Clock
    """Wall time of session changes and of a portfolio context's age."""
    dream_min_balance_neuron: int = 1
    """The balance a wallet user needs before AnalyzeDream asks a model."""
    rates: RatePermits | None = None
    """The callers' rate limits, held locally (None: not enforced)."""

    def deadline(self, context: Context) -> Deadline:
        """The caller's deadline, on our monotonic clock."""
        return Deadline.after(self.monotonic, context.time_remaining())

    @staticmethod
    def request(method: str, request_id: str, message: Message) -> Request:
        """`message`, sent as `method` by the current caller, as Once keys it."""
        return Request.of(scope(), request_id, method, message)

    async def answer(
        self,
        request: Request,
        answer_type: type[M],
        call: ChatCall,
        respond: Callable[[Claim, ChatOutcome], Awaitable[M]],
        *,
        stream: bool,
    ) -> AsyncGenerator[str | M]:
        """The text as it comes (when streamed), then the answer `respond` makes of the outcome,
        stored under `request` with who gave it; the stored answer alone when `request` was
        answered before. A failure gives the request_id up, so the caller's retry runs afresh."""
        got = await self.once.claim(request)
        if isinstance(got, bytes):
            yield answer_type.FromString(got)
            return
        try:
            async for event in self.engine.events(call, stream=stream):
                if isinstance(event, str):
                    yield event
                    continue
                yield await self._keep(request, got, call, event, respond)
        except BaseException:
            await self.once.release(got)
            raise

    async def _keep(
        self,
        request: Request,
        claim: Claim,
        call: ChatCall,
        outcome: ChatOutcome,
        respond: Callable[[Claim, ChatOutcome], Awaitable[M]],
    ) -> M:
        """The answer made of `outcome`, stored with who gave it and, in the same transaction,
        what it owes (queued for the settler). The provider was paid either way: when no answer
        is made of it, what it owes is queued alone."""
        settlements = self.engine.settlements
        try:
            refuse_unverified(call, outcome)
            answer = await respond(claim, outcome)
        except BaseException:
            await asyncio.shield(settlements.alone(outcome.settlement))
            raise

        # One statement: the answer, what it owes (queued for the settler) and who gave it with
        # what to check. The outbox row is written even if our claim was taken over meanwhile:
        # the answer is still owed for. Shielded: a caller hanging up now must not undo the
        # record of what was paid.
        source = verifications.answered_by(
            request,
            outcome.provider,
            outcome.verification,
            outcome.signed,
            self.engine.verifier.grace_seconds,
        )
        writes = [outbox.queued(outcome.settlement), source]
        await asyncio.shield(self.once.finish(claim, answer, alongside=writes))
        settlements.wake()
        if outcome.signed is not None:
            self.engine.verifier.submit(request.scope, request.request_id, outcome.signed)
        return answer
