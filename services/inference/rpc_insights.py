"""AnalyzePortfolio and AnalyzeDream: code-computed figures plus a structured model answer."""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any

import grpc

from services.inference import convert, insights
from services.inference.calls import build_call
from services.inference.chat import ChatOutcome
from services.inference.faults import Context, fail
from services.inference.portfolio import Holding, compute, parse_quantity
from services.inference.service_base import InferenceBase
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import abort, bad_request


class InsightRpcs(InferenceBase):
    """Portfolio insights and dream readings."""

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
