"""What every inference RPC uses, handed to the servicers as one object, and who a request_id
belongs to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import grpc.aio
from google.protobuf.message import Message

from services.inference import convert, store
from services.inference.archive import Archiver
from services.inference.breaker import Breakers
from services.inference.calls import refuse_unverified
from services.inference.chat import ChatCall, ChatEngine, ChatOutcome
from services.inference.retry import Deadline
from services.inference.routing import ProviderStats
from zerog_db import Alongside, Claim, Once, Request
from zerog_grpc import Clock, Monotonic, current_caller

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


def answer_source(request: Request, answer: Any) -> Alongside:
    """The record of who gave `answer` (any response with routing and verification) and what
    its TEE check found, to store with it."""
    verdict = convert.VERDICT_NAMES[answer.verification.status]
    return store.answered_by(request, answer.routing.provider, verdict)


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
    ) -> AsyncIterator[str | M]:
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
                refuse_unverified(call, event)
                answer = await respond(got, event)
                await self.once.finish(got, answer, alongside=answer_source(request, answer))
                yield answer
        except BaseException:
            await self.once.release(got)
            raise
