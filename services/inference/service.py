"""InferenceService servicer: validate, run the chat engine, map errors."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
import grpc

from services.inference import convert, insights, store
from services.inference.breaker import Breakers
from services.inference.chat import FAILED, ChatCall, ChatEngine, ChatOutcome
from services.inference.errors import ResponseNotVerified
from services.inference.faults import Context, fail
from services.inference.portfolio import Holding, compute, parse_quantity
from services.inference.retry import Clock, Deadline
from services.inference.routing import ProviderStats, Strategy
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc import abort, bad_request, current_caller

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InferenceService"].full_name
DEFAULT_MAX_TOKENS, MAX_MAX_TOKENS = 512, 32768
MAX_REQUEST_ID = 100


def subject_of(given: str) -> str:
    """The budget to charge: as given, else the JWT's user, else the calling service."""
    caller = current_caller()
    return given or (f"user:{caller.user}" if caller.user else f"service:{caller.service}")


def check_request_id(problems: dict[str, str], field: str, value: str) -> None:
    if not value:
        problems[field] = "required"
    elif len(value) > MAX_REQUEST_ID or not value.isprintable():
        problems[field] = f"at most {MAX_REQUEST_ID} printable characters"


def build_call(
    request: pb.ChatCompletionRequest,
    context: Context,
    clock: Clock,
    *,
    operation: str = "chat.completion",
    problems: dict[str, str] | None = None,
) -> tuple[ChatCall | None, dict[str, str]]:
    """A ChatCall from a request, or the problems found (every one of them)."""
    problems = {} if problems is None else problems
    check_request_id(problems, "request_id", request.request_id)
    if not request.messages:
        problems["messages"] = "at least one message is required"
    for i, m in enumerate(request.messages):
        if m.role not in convert.ROLES:
            problems[f"messages[{i}].role"] = "must be system, user or assistant"
        if not m.content.strip():
            problems[f"messages[{i}].content"] = "must not be empty"
    if request.HasField("temperature") and not (
        math.isfinite(request.temperature) and 0 <= request.temperature <= 2
    ):
        problems["temperature"] = "must be between 0 and 2"
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    if not 1 <= max_tokens <= MAX_MAX_TOKENS:
        problems["max_tokens"] = f"must be between 1 and {MAX_MAX_TOKENS}"
    if problems:
        return None, problems
    caller = current_caller()
    return ChatCall(
        request_id=f"{caller.service}/{request.request_id}",
        subject=subject_of(request.subject),
        user=caller.user,
        model=request.model,
        messages=[{"role": convert.ROLES[m.role], "content": m.content} for m in request.messages],
        max_tokens=max_tokens,
        deadline=Deadline.after(clock, context.time_remaining()),
        temperature=request.temperature if request.HasField("temperature") else None,
        strategy=convert.STRATEGIES.get(request.routing.strategy, Strategy.COST),
        filters=convert.filters(request.model, request.routing),
        operation=operation,
    ), problems


class InferenceService(inference_service_pb2_grpc.InferenceServiceServicer):
    """Chat completions (unary and streamed), models, portfolio insights and dream readings."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: ChatEngine,
        breakers: Breakers,
        stats: ProviderStats,
        clock: Clock,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._breakers = breakers
        self._stats = stats
        self._clock = clock

    async def _once(
        self,
        method: str,
        request: Any,
        context: Context,
        run: Callable[[], Any],
        parse: Callable[[bytes], Any],
    ) -> Any:
        """Run `run` once per (caller, request_id); retries get the stored answer."""
        caller = current_caller().service
        key = convert.fingerprint(request)
        try:
            stored = await store.recall(self._pool, caller, method, request.request_id, key)
            if stored is not None:
                return parse(stored)
            response, outcome = await run()
            await store.remember(
                self._pool,
                caller,
                method,
                request.request_id,
                key,
                response.SerializeToString(),
                provider=outcome.provider,
                verification=outcome.verification.status,
            )
            return response
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)

    async def ChatCompletion(
        self, request: pb.ChatCompletionRequest, context: Context
    ) -> pb.ChatCompletionResponse:
        call, problems = build_call(request, context, self._clock)
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid ChatCompletionRequest",
                bad_request(problems),
            )

        async def run() -> tuple[pb.ChatCompletionResponse, ChatOutcome]:
            outcome = await self._engine.complete(call)
            refuse_unverified(call, outcome)
            return convert.completion_response(outcome), outcome

        response: pb.ChatCompletionResponse = await self._once(
            "ChatCompletion", request, context, run, pb.ChatCompletionResponse.FromString
        )
        return response

    async def StreamChatCompletion(
        self, request: pb.StreamChatCompletionRequest, context: Context
    ) -> AsyncIterator[pb.StreamChatCompletionResponse]:
        inner = request.request
        call, problems = build_call(inner, context, self._clock)
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid StreamChatCompletionRequest",
                bad_request({f"request.{k}": v for k, v in problems.items()}),
            )
        caller = current_caller().service
        key = convert.fingerprint(inner)
        try:
            # Same idempotency record as the unary call: a retry gets the first answer in one piece.
            stored = await store.recall(self._pool, caller, "ChatCompletion", inner.request_id, key)
            if stored is not None:
                first = pb.ChatCompletionResponse.FromString(stored)
                last = convert.last_chunk(first)
                last.content_delta = first.choices[0].message.content if first.choices else ""
                yield last
                return
            async for event in self._engine.stream(call):
                if isinstance(event, str):
                    chunk = pb.StreamChatCompletionResponse(content_delta=event, model=call.model)
                    yield chunk
                    continue
                refuse_unverified(call, event)
                response = convert.completion_response(event)
                await store.remember(
                    self._pool,
                    caller,
                    "ChatCompletion",
                    inner.request_id,
                    key,
                    response.SerializeToString(),
                    provider=event.provider,
                    verification=event.verification.status,
                )
                yield convert.last_chunk(response)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await fail(context, error)

    async def ListModels(
        self, request: pb.ListModelsRequest, context: Context
    ) -> pb.ListModelsResponse:
        try:
            providers = await self._engine.broker.providers()
        except Exception as error:
            await fail(context, error)
        models: dict[str, list[pb.ProviderStatus]] = {}
        for p in providers:
            if (request.official_only and not p.official) or (
                request.verifiable_only and not p.verifiable
            ):
                continue
            models.setdefault(p.model, []).append(
                pb.ProviderStatus(
                    provider=p.address,
                    url=p.url,
                    input_price_neuron=str(p.input_price),
                    output_price_neuron=str(p.output_price),
                    verifiable=p.verifiable,
                    official=p.official,
                    breaker_state=self._breakers.state(p.address),
                    average_latency_ms=round(self._stats.latency_ms(p.address) or 0),
                    success_rate=self._stats.success_rate(p.address),
                )
            )
        return pb.ListModelsResponse(
            models=[pb.Model(id=m, providers=ps) for m, ps in sorted(models.items())]
        )

    async def AnalyzePortfolio(
        self, request: pb.AnalyzePortfolioRequest, context: Context
    ) -> pb.AnalyzePortfolioResponse:
        problems: dict[str, str] = {}
        holdings = holdings_of(request.positions, problems)
        rate = Decimal(0)
        if request.risk_free_rate:
            try:
                rate = Decimal(request.risk_free_rate)
                if not rate.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                problems["risk_free_rate"] = "must be a decimal number"
        if problems:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid AnalyzePortfolioRequest",
                bad_request(problems),
            )
        try:
            figures = compute(
                holdings, {s.symbol: list(s.close_micro_usd) for s in request.price_history}, rate
            )
        except Exception as error:
            await fail(context, error)
        chat = pb.ChatCompletionRequest(
            request_id=request.request_id,
            subject=request.subject,
            model=request.model,
            messages=[
                pb.ChatMessage(role=convert.ROLE_OF[m["role"]], content=m["content"])
                for m in insights.portfolio_messages(figures)
            ],
            routing=request.routing,
        )
        call, problems = build_call(chat, context, self._clock, operation="portfolio.insights")
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid AnalyzePortfolioRequest",
                bad_request(problems),
            )
        call = dataclasses.replace(call, response_format=insights.PORTFOLIO_FORMAT)

        async def run() -> tuple[pb.AnalyzePortfolioResponse, ChatOutcome]:
            outcome = await self._engine.complete(call)
            narrative, points = insights.parse_portfolio(outcome.content)
            return pb.AnalyzePortfolioResponse(
                metrics=metrics_message(figures),
                narrative=narrative,
                insights=points,
                usage=convert.usage(outcome),
                cost=convert.cost(outcome),
                routing=convert.routing(outcome),
                verification=convert.verification(outcome),
            ), outcome

        response: pb.AnalyzePortfolioResponse = await self._once(
            "AnalyzePortfolio", request, context, run, pb.AnalyzePortfolioResponse.FromString
        )
        return response

    async def AnalyzeDream(
        self, request: pb.AnalyzeDreamRequest, context: Context
    ) -> pb.AnalyzeDreamResponse:
        problems: dict[str, str] = {}
        if not request.dream.strip():
            problems["dream"] = "must not be empty"
        elif len(request.dream) > 8000:
            problems["dream"] = "at most 8000 characters"
        messages = insights.dream_messages(request.dream or " ")
        chat = pb.ChatCompletionRequest(
            request_id=request.request_id,
            subject=request.subject,
            model=request.model,
            messages=[
                pb.ChatMessage(role=convert.ROLE_OF[m["role"]], content=m["content"])
                for m in messages
            ],
            routing=request.routing,
        )
        call, problems = build_call(
            chat, context, self._clock, operation="dream.analysis", problems=problems
        )
        if call is None:
            await abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid AnalyzeDreamRequest",
                bad_request(problems),
            )
        call = dataclasses.replace(call, response_format=insights.DREAM_FORMAT)

        async def run() -> tuple[pb.AnalyzeDreamResponse, ChatOutcome]:
            outcome = await self._engine.complete(call)
            reading = insights.parse_dream(outcome.content)
            return pb.AnalyzeDreamResponse(
                interpretation=reading.interpretation,
                symbols=[pb.DreamSymbol(symbol=s, meaning=m) for s, m in reading.symbols],
                emotions=reading.emotions,
                insights=reading.insights,
                usage=convert.usage(outcome),
                cost=convert.cost(outcome),
                routing=convert.routing(outcome),
                verification=convert.verification(outcome),
            ), outcome

        response: pb.AnalyzeDreamResponse = await self._once(
            "AnalyzeDream", request, context, run, pb.AnalyzeDreamResponse.FromString
        )
        return response


def refuse_unverified(call: ChatCall, outcome: ChatOutcome) -> None:
    """A caller that asked for verifiable providers never gets an unverified answer as valid."""
    if call.filters.verifiable_only and outcome.verification.status == FAILED:
        v = outcome.verification
        raise ResponseNotVerified(outcome.provider, v.chat_id, v.reason)


def holdings_of(positions: Any, problems: dict[str, str]) -> list[Holding]:
    """Holdings from proto positions, noting bad quantities in `problems`."""
    holdings = []
    for i, p in enumerate(positions):
        try:
            quantity = parse_quantity(p.quantity)
        except ValueError as error:
            problems[f"positions[{i}].quantity"] = str(error)
            continue
        holdings.append(Holding(p.symbol, quantity, p.cost_basis_micro_usd))
    return holdings


def metrics_message(f: Any) -> pb.PortfolioMetrics:
    return pb.PortfolioMetrics(
        total_value_micro_usd=f.total_value_micro_usd,
        total_cost_micro_usd=f.total_cost_micro_usd,
        total_pnl_micro_usd=f.total_pnl_micro_usd,
        total_return=f.total_return,
        day_return=f.day_return,
        volatility=f.volatility,
        sharpe_ratio=f.sharpe_ratio,
        max_drawdown=f.max_drawdown,
        diversification_score=f.diversification_score,
        positions=[
            pb.PositionMetrics(
                symbol=p.symbol,
                value_micro_usd=p.value_micro_usd,
                pnl_micro_usd=p.pnl_micro_usd,
                total_return=p.total_return,
                day_return=p.day_return,
                weight=p.weight,
            )
            for p in f.positions
        ],
    )
