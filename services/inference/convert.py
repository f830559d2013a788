"""Between proto messages and the engine's plain types."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.inference.chat import ChatOutcome
from services.inference.portfolio import PortfolioFigures
from services.inference.routing import Filters, Strategy
from services.inference.verification import FAILED, NOT_VERIFIABLE, PENDING, VERIFIED
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc.convert import enum_pairs

ROLES = {
    pb.CHAT_ROLE_SYSTEM: "system",
    pb.CHAT_ROLE_USER: "user",
    pb.CHAT_ROLE_ASSISTANT: "assistant",
}
ROLE_OF = {v: k for k, v in ROLES.items()}
STRATEGY_OF, _strategies = enum_pairs(Strategy, pb.RoutingStrategy, "ROUTING_STRATEGY_")
# A request that names no strategy is ranked by cost.
STRATEGIES = {pb.ROUTING_STRATEGY_UNSPECIFIED: Strategy.COST, **_strategies}
VERDICTS = {
    NOT_VERIFIABLE: pb.VERIFICATION_STATUS_NOT_VERIFIABLE,
    VERIFIED: pb.VERIFICATION_STATUS_VERIFIED,
    FAILED: pb.VERIFICATION_STATUS_FAILED,
    PENDING: pb.VERIFICATION_STATUS_PENDING,
}
VERDICT_NAMES = {v: k for k, v in VERDICTS.items()}


def filters(model: str, routing: pb.RoutingOptions) -> Filters:
    return Filters(
        model=model,
        official_only=routing.official_only,
        verifiable_only=routing.verifiable_only,
        provider=routing.provider,
    )


def a0gi(neuron: int) -> str:
    """Neuron as a canonical decimal A0GI string ("1.5", "0.000000000000000002")."""
    whole, frac = divmod(neuron, 10**18)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") if frac else str(whole)


def usage(outcome: ChatOutcome) -> pb.Usage:
    return pb.Usage(
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        total_tokens=outcome.prompt_tokens + outcome.completion_tokens,
        counted_locally=outcome.counted_locally,
    )


def cost(outcome: ChatOutcome) -> pb.Cost:
    return pb.Cost(
        fee_neuron=str(outcome.fee_neuron),
        fee_a0gi=a0gi(outcome.fee_neuron),
        cost_micro_usd=outcome.cost_micro_usd,
        reservation_id=outcome.reservation_id,
    )


def routing(outcome: ChatOutcome) -> pb.RoutingDecision:
    return pb.RoutingDecision(
        provider=outcome.provider,
        strategy=STRATEGY_OF[outcome.strategy],
        reason=outcome.reason,
        attempts=outcome.calls,
        attempt_log=[
            pb.RoutingAttempt(
                provider=a.provider,
                attempt=a.attempt,
                outcome=a.outcome,
                http_status=a.http_status,
                latency_ms=a.latency_ms,
            )
            for a in outcome.attempts
        ],
        candidates=outcome.candidates,
    )


def verification(outcome: ChatOutcome) -> pb.Verification:
    v = outcome.verification
    return pb.Verification(
        status=VERDICTS[v.status],
        chat_id=v.chat_id,
        signing_address=v.signing_address,
        reason=v.reason,
    )


def accounting(outcome: ChatOutcome) -> dict[str, Any]:
    """The usage, cost, routing and verification fields every answer carries."""
    return {
        "usage": usage(outcome),
        "cost": cost(outcome),
        "routing": routing(outcome),
        "verification": verification(outcome),
    }


def metrics(figures: PortfolioFigures) -> pb.PortfolioMetrics:
    """The figures as sent: the proto's fields are named as ours."""
    fields = dataclasses.asdict(figures)
    positions = [pb.PositionMetrics(**p) for p in fields.pop("positions")]
    return pb.PortfolioMetrics(**fields, positions=positions)


def completion_response(outcome: ChatOutcome) -> pb.ChatCompletionResponse:
    response = pb.ChatCompletionResponse(
        id=outcome.id,
        model=outcome.model,
        choices=[
            pb.ChatChoice(
                index=0,
                message=pb.ChatMessage(role=pb.CHAT_ROLE_ASSISTANT, content=outcome.content),
                finish_reason=outcome.finish_reason,
            )
        ],
        **accounting(outcome),
    )
    response.create_time.GetCurrentTime()
    return response


def last_chunk(response: pb.ChatCompletionResponse) -> pb.StreamChatCompletionResponse:
    """The closing stream message of an answer (for a replayed request, with all the text)."""
    return pb.StreamChatCompletionResponse(
        id=response.id,
        model=response.model,
        finish_reason=response.choices[0].finish_reason if response.choices else "",
        usage=response.usage,
        cost=response.cost,
        routing=response.routing,
        verification=response.verification,
    )
