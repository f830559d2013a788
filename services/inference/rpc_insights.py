"""AnalyzePortfolio and AnalyzeDream: code-computed figures plus a structured model answer; a
dream reading is paid from the balance of the wallet user who signed for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.inference import convert, insights
from services.inference.calls import build_call
from services.inference.chat import ChatOutcome
from services.inference.deps import Context, Deps, last
from services.inference.portfolio import Holding, compute, parse_quantity
from services.inference.rate_limits import wallet_subject
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Claim
from zerog_grpc import Problems, Rpcs

M = TypeVar("M", bound=Message)


class InsightRpcs(Rpcs[Deps]):
    """Portfolio insights and dream readings."""

    async def AnalyzePortfolio(
        self, request: pb.AnalyzePortfolioRequest, context: Context
    ) -> pb.AnalyzePortfolioResponse:
        problems = Problems()
        holdings = holdings_of(request.positions, problems)
        rate = Decimal(0)
        if request.risk_free_rate:
            try:
                rate = Decimal(request.risk_free_rate)
                if not rate.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                problems.add("risk_free_rate", "must be a decimal number")
        problems.raise_if_any("invalid AnalyzePortfolioRequest")
        figures = compute(
            holdings, {s.symbol: list(s.close_micro_usd) for s in request.price_history}, rate
        )

        async def answer(outcome: ChatOutcome) -> pb.AnalyzePortfolioResponse:
            narrative, points = insights.parse_portfolio(outcome.content)
            return pb.AnalyzePortfolioResponse(
                metrics=convert.metrics(figures),
                narrative=narrative,
                insights=points,
                **convert.accounting(outcome),
            )

        return await self._analyse(
            "AnalyzePortfolio",
            request,
            context,
            insights.portfolio_messages(figures),
            insights.PORTFOLIO_FORMAT,
            Problems(),
            pb.AnalyzePortfolioResponse,
            answer,
        )

    async def AnalyzeDream(
        self, request: pb.AnalyzeDreamRequest, context: Context
    ) -> pb.AnalyzeDreamResponse:
        problems = Problems()
        if not request.dream.strip():
            problems.add("dream", "must not be empty")
        elif len(request.dream) > 8000:
            problems.add("dream", "at most 8000 characters")
        if not (request.intent.message and request.intent.signature):
            problems.add("intent", "a signed `analyze` intent (message and signature) is required")
        signed = bpb.SignedIntent(
            message=request.intent.message, signature=request.intent.signature
        )
        broker = self.deps.engine.broker

        async def authorize() -> None:
            # The intent and the balance, before any model is asked; nothing is spent yet.
            user = await broker.authorize_user(signed, self.deps.dream_min_balance_neuron)
            # The signing wallet's rate limits, once it is known to be the wallet's own call.
            if self.deps.rates is not None:
                await self.deps.rates.admit(wallet_subject(user.address), "AnalyzeDream")

        async def answer(outcome: ChatOutcome) -> pb.AnalyzeDreamResponse:
            reading = insights.parse_dream(outcome.content)
            # The fee the broker records for this call, under the same usage id: debited once,
            # with the intent's nonce spent in the same broker transaction.
            paid = await broker.charge_user(outcome.settlement.usage_id, signed, outcome.fee_neuron)
            return pb.AnalyzeDreamResponse(
                interpretation=reading.interpretation,
                symbols=[pb.DreamSymbol(symbol=s, meaning=m) for s, m in reading.symbols],
                emotions=reading.emotions,
                insights=reading.insights,
                charge=pb.WalletCharge(
                    address=paid.account.address,
                    charged_neuron=paid.charged_neuron,
                    remaining_balance_neuron=paid.account.balance_neuron,
                    remaining_balance_a0gi=paid.account.balance_a0gi,
                ),
                **convert.accounting(outcome),
            )

        return await self._analyse(
            "AnalyzeDream",
            request,
            context,
            insights.dream_messages(request.dream or " "),
            insights.DREAM_FORMAT,
            problems,
            pb.AnalyzeDreamResponse,
            answer,
            before=authorize,
        )

    async def _analyse(
        self,
        method: str,
        request: pb.AnalyzePortfolioRequest | pb.AnalyzeDreamRequest,
        context: Context,
        messages: Iterable[dict[str, str]],
        response_format: dict[str, Any],
        problems: Problems,
        answer_type: type[M],
        answer: Callable[[ChatOutcome], Awaitable[M]],
        *,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> M:
        """Ask the model for `response_format` once per request_id; the answer is built from
        its outcome and stored with who gave it. `before` runs first, unless the request was
        answered before (its stored answer is then returned without it)."""
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
        operation = "portfolio.insights" if method == "AnalyzePortfolio" else "dream.analysis"
        call = build_call(
            chat,
            self.deps.deadline(context),
            invalid=f"invalid {method}Request",
            operation=operation,
            problems=problems,
        )
        call = dataclasses.replace(call, response_format=response_format)
        once = self.deps.request(method, request.request_id, request)
        if before is not None and await self.deps.once.replay(once) is None:
            await before()

        async def respond(_: Claim, outcome: ChatOutcome) -> M:
            return await answer(outcome)

        return await last(self.deps.answer(once, answer_type, call, respond, stream=False))


def holdings_of(positions: Any, problems: Problems) -> list[Holding]:
    """Holdings from proto positions, noting bad quantities in `problems`."""
    holdings = []
    for i, p in enumerate(positions):
        try:
            quantity = parse_quantity(p.quantity)
        except ValueError as error:
            problems.add(f"positions[{i}].quantity", str(error))
            continue
        holdings.append(Holding(p.symbol, quantity, p.cost_basis_micro_usd))
    return holdings
