"""One chat call end to end: candidates, budget (a lease or a reservation), failover, the TEE
check when asked for before the answer, and what the answer owes (settled later, through the
outbox)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.inference import settle
from services.inference.broker_client import BrokerClient
from services.inference.errors import NoProvider, StreamInterrupted
from services.inference.failover import Attempt, Failover, Routed, Stopwatch
from services.inference.leases import Leases
from services.inference.provider_http import Completion, Credentials, ProviderHttp, request_body
from services.inference.quota_client import QuotaClient, Reservation
from services.inference.retry import Deadline
from services.inference.routing import Filters, Provider, Strategy, rank
from services.inference.spans import CallMetrics, annotate_call
from services.inference.store.outbox import Queue, Settlement
from services.inference.tokens import PER_MESSAGE_OVERHEAD, count_messages, count_text
from services.inference.verification import NOT_CHECKED, PENDING, Signed, Verdict
from services.inference.verifier import Verifier
from zerog_grpc import request_ids

log = logging.getLogger("services.inference.chat")
T = TypeVar("T")
# Opens one provider call: (credentials, request body, seconds it may take) -> its answer.
Open = Callable[[Credentials, bytes, float], Awaitable[T]]


@dataclass(frozen=True)
class ChatCall:
    """A validated request for one answer."""

    request_id: str
    subject: str
    user: str
    model: str
    messages: list[dict[str, str]]
    max_tokens: int
    deadline: Deadline
    temperature: float | None = None
    strategy: Strategy = Strategy.COST
    filters: Filters = field(default_factory=Filters)
    operation: str = "chat.completion"
    response_format: dict[str, Any] | None = None
    """OpenAI structured output (json_schema) for the insight prompts; None for text."""
    verify_now: bool = False
    """Check a verifiable provider's answer before returning it, rather than right after."""
    options: dict[str, Any] = field(default_factory=dict)
    """OpenAI sampling options sent to the provider as they are (stop, top_p, seed, user)."""

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": self.messages,
            "max_tokens": self.max_tokens,
            **self.options,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.response_format is not None:
            body["response_format"] = self.response_format
        return body


@dataclass
class ChatOutcome:
    """An answer with its accounting and the routing that produced it."""

    id: str
    model: str
    content: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    counted_locally: bool
    fee_neuron: int
    cost_micro_usd: int
    reservation_id: str
    provider: str
    strategy: Strategy
    reason: str
    candidates: list[str]
    attempts: list[Attempt]
    calls: int
    verification: Verdict
    signed: Signed | None
    """What the provider's TEE signed, when its answer is to be checked after it is given."""
    settlement: Settlement
    """What the answer owes quota and the broker; queued in the outbox by whoever keeps it."""


@dataclass
class _Plan:
    ranked: list[Provider]
    reason: str
    reservation: Reservation
    run_id: str
    """Names this run at quota and the broker. A caller's retry after a failure is a new run
    (its own reservation and usage record); a retry after success never gets here, it is
    answered from the inference's own record."""


def reservation_tokens(call: ChatCall) -> int:
    """An upper bound of the call's tokens: a token is at least one byte, plus max_tokens."""
    prompt = sum(len(m["content"].encode()) + PER_MESSAGE_OVERHEAD for m in call.messages)
    return prompt + call.max_tokens


@dataclass(frozen=True)
class ChatEngine:
    """Runs chat calls; shared by InferenceService, ChatSessionService and the insights."""

    broker: BrokerClient
    quota: QuotaClient
    http: ProviderHttp
    failover: Failover
    settlements: Queue
    verifier: Verifier
    leases: Leases | None = None
    """Budget leases of this replica; None (or turned off) reserves at quota per call."""
    metrics: CallMetrics | None = None

    async def candidates(self, call: ChatCall) -> tuple[list[Provider], str]:
        """The providers that may answer, best first; NoProvider when there are none."""
        admitted = [p for p in await self.broker.providers() if call.filters.admit(p)]
        ranked, reason = rank(
            admitted,
            call.strategy,
            self.failover.stats,
            prompt_tokens=count_messages(m["content"] for m in call.messages),
            completion_tokens=call.max_tokens,
        )
        if not ranked:
            raise NoProvider(call.model)
        return ranked, reason

    async def _plan(self, call: ChatCall) -> _Plan:
        ranked, reason = await self.candidates(call)
        # Every id sent on is derived by hashing, so it fits the shared rule however long the
        # caller's request_id was, and two requests never share one.
        run_id = request_ids.derived("run", call.request_id, uuid.uuid4().hex)
        # Reserved before any provider is called: a subject over budget never costs a call.
        reservation = await self._reserve(call, run_id)
        return _Plan(ranked, reason, reservation, run_id)

    async def _reserve(self, call: ChatCall, run_id: str) -> Reservation:
        """The call's upper bound set aside: from this replica's lease of the subject's budget
        when one covers it, else reserved at quota for this call alone."""
        tokens, lasting = reservation_tokens(call), call.deadline.remaining()
        if self.leases is not None and self.leases.enabled:
            leased = await self.leases.take(call.subject, call.model, tokens, lasting)
            if leased is not None:
                return leased
        return await self.quota.reserve(
            run_id, call.subject, tokens, call.model, call.operation, lasting=lasting
        )

    async def _route(
        self, call: ChatCall, plan: _Plan, open_call: Open[T], *, stream: bool
    ) -> Routed[tuple[Credentials, T]]:
        """The first provider call that opens, failing over; the reservation is released if
        none does."""
        log_: list[Attempt] = []

        async def attempt(
            provider: Provider, seconds: float, watch: Stopwatch
        ) -> tuple[Credentials, T]:
            # Held per provider by the broker client: no broker call while they last.
            creds = await self.broker.credentials(provider.address, seconds)
            body = request_body(creds, call.payload(), stream=stream)
            watch.restart()
            return creds, await open_call(creds, body, seconds)

        try:
            routed = await self.failover.run(plan.ranked, attempt, call.deadline, log_)
        except BaseException:
            await self._release(plan.reservation)
            annotate_call(call, plan.ranked, plan.reason, None, log_, self.metrics)
            raise
        return routed

    async def complete(self, call: ChatCall) -> ChatOutcome:
        """One unary answer; the reservation is released if no answer comes back."""
        plan = await self._plan(call)
        routed = await self._route(call, plan, self.http.complete, stream=False)
        creds, completion = routed.value
        return await self._account(call, plan, routed, creds, completion)

    async def stream(self, call: ChatCall) -> AsyncIterator[str | ChatOutcome]:
        """Text pieces as the provider sends them, then the outcome."""
        plan = await self._plan(call)
        routed = await self._route(call, plan, self.http.open_stream, stream=True)
        creds, stream = routed.value
        try:
            async for piece in stream.deltas():
                yield piece
        except BaseException as error:
            # Tokens already reached the caller, so no failover; the provider still charged us
            # for what it produced, so bill what was received.
            await stream.aclose()
            if isinstance(error, StreamInterrupted):
                log.warning("stream interrupted", extra={"provider": creds.provider})
            partial = settle.stream_completion(stream)
            cut = await self._account(call, plan, routed, creds, partial, verify=False)
            # No answer is kept, so nothing else queues what it owes.
            await asyncio.shield(self.settlements.alone(cut.settlement))
            raise
        yield await self._account(call, plan, routed, creds, settle.stream_completion(stream))

    async def events(self, call: ChatCall, *, stream: bool) -> AsyncIterator[str | ChatOutcome]:
        """As `stream`, or the one outcome of `complete`: callers that do both write it once."""
        if stream:
            async for event in self.stream(call):
                yield event
        else:
            yield await self.complete(call)

    async def _release(self, reservation: Reservation) -> None:
        if reservation.leased:
            if self.leases is not None:
                self.leases.finish(reservation, 0)
            return
        try:
            await self.quota.release(reservation)
        except Exception:
            # The reservation expires on its own; the caller must still see the real failure.
            log.exception("release failed", extra={"reservation": reservation.reservation_id})

    async def _account(
        self,
        call: ChatCall,
        plan: _Plan,
        routed: Routed[Any],
        creds: Credentials,
        completion: Completion,
        *,
        verify: bool = True,
    ) -> ChatOutcome:
        usage = completion.usage
        prompt = (
            usage.prompt_tokens if usage else count_messages(m["content"] for m in call.messages)
        )
        produced = usage.completion_tokens if usage else count_text(completion.content)
        fee = prompt * creds.input_price + produced * creds.output_price
        # Billed in full even above the reservation (quota flags the overage): the provider
        # charged for every token.
        used = prompt + produced
        if used > plan.reservation.tokens:
            log.warning("usage above reservation", extra={"provider": creds.provider})
        if plan.reservation.leased and self.leases is not None:
            self.leases.finish(plan.reservation, used)
        signed = Signed.of(creds.provider, completion) if creds.verifiable and verify else None
        if signed is None:
            verdict = NOT_CHECKED
        elif call.verify_now:
            verdict = await self.verifier.check_now(creds, signed, call.deadline.remaining())
            signed = None
        else:
            verdict = Verdict(PENDING, signed.chat_id)
        # What the answer owes is settled off the request path (the caller's answer never
        # waits for quota or the broker): the caller queues it with the stored answer.
        settlement = Settlement(
            reservation_id=plan.reservation.reservation_id,
            price_key=plan.reservation.price_key,
            tokens=used,
            usage_id=request_ids.derived("usage", plan.run_id, creds.provider.lower()),
            provider=creds.provider,
            user=call.user,
            input_tokens=prompt,
            output_tokens=produced,
            fee_neuron=fee,
            model=completion.model,
            chat_id=completion.chat_id,
            leased=plan.reservation.leased,
        )
        outcome = ChatOutcome(
            id=completion.id,
            model=completion.model,
            content=completion.content,
            finish_reason=completion.finish_reason,
            prompt_tokens=prompt,
            completion_tokens=produced,
            counted_locally=usage is None,
            fee_neuron=fee,
            cost_micro_usd=plan.reservation.cost(used),
            reservation_id=plan.reservation.reservation_id,
            provider=routed.provider.address,
            strategy=call.strategy,
            reason=plan.reason,
            candidates=[p.address for p in plan.ranked],
            attempts=list(routed.attempts),
            calls=routed.calls,
            verification=verdict,
            signed=signed,
            settlement=settlement,
        )
        annotate_call(call, plan.ranked, plan.reason, outcome, routed.attempts, self.metrics)
        return outcome
