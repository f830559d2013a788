"""A chat call on its trace: the routing decision, the model, tokens and cost, on the RPC's span."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace

from services.inference.failover import Attempt
from services.inference.routing import Provider

if TYPE_CHECKING:
    from services.inference.chat import ChatCall, ChatOutcome


def annotate_call(
    call: ChatCall,
    ranked: list[Provider],
    reason: str,
    outcome: ChatOutcome | None,
    attempts: list[Attempt],
) -> None:
    """Put the routing decision on the current span, so a trace shows who answered and why."""
    span = trace.get_current_span()
    span.set_attribute("zerog.routing.strategy", call.strategy.value)
    span.set_attribute("zerog.routing.reason", reason)
    span.set_attribute("zerog.routing.candidates", [p.address for p in ranked])
    span.set_attribute("zerog.routing.attempts", len(attempts))
    span.set_attribute(
        "zerog.routing.attempt_log", [f"{a.provider}#{a.attempt}:{a.outcome}" for a in attempts]
    )
    span.set_attribute("gen_ai.request.model", call.model)
    if outcome is not None:
        span.set_attribute("zerog.routing.provider", outcome.provider)
        span.set_attribute("zerog.verification", outcome.verification.status)
        # OpenTelemetry's GenAI names where they exist, so trace viewers recognise them.
        span.set_attribute("gen_ai.response.model", outcome.model)
        span.set_attribute("gen_ai.usage.input_tokens", outcome.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", outcome.completion_tokens)
        span.set_attribute("zerog.cost.micro_usd", outcome.cost_micro_usd)
        span.set_attribute("zerog.cost.fee_neuron", str(outcome.fee_neuron))
