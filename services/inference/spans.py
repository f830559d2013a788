"""A chat call on its trace (the routing decision, the model, tokens and cost, on the RPC's
span) and in the on-call metrics (zerog_compute_*, breaker states)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.inference.breaker import Breakers
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
    metrics: CallMetrics | None = None,
) -> None:
    """Put the routing decision on the current span, so a trace shows who answered and why;
    count the call in `metrics`."""
    if metrics is not None:
        metrics.record(call, outcome, attempts)
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


class CallMetrics:
    """The seeds' zerog_compute_* counters; labels stay bounded (models, operations)."""

    def __init__(self, registry: CollectorRegistry, breakers: Breakers) -> None:
        self.requests = Counter(
            "zerog_compute_requests_total",
            "Chat calls routed to providers, by model and operation",
            ["model", "operation"],
            registry=registry,
        )
        self.errors = Counter(
            "zerog_compute_request_errors_total",
            "Chat calls no provider answered, by model and the last attempt's outcome",
            ["model", "error_type"],
            registry=registry,
        )
        self.tokens = Counter(
            "zerog_compute_tokens_used_total",
            "Tokens billed, by model and kind (input, output)",
            ["model", "kind"],
            registry=registry,
        )
        self.cost_usd = Counter(
            "zerog_compute_cost_micro_usd_total",
            "What answers cost the subjects, in micro-USD (quota's prices)",
            ["model"],
            registry=registry,
        )
        self.fees = Counter(
            "zerog_compute_fee_neuron_total",
            "What providers charged, in neuron (monitoring only: the ledger is the record)",
            ["model"],
            registry=registry,
        )
        registry.register(BreakerStates(breakers))

    def record(self, call: ChatCall, outcome: ChatOutcome | None, attempts: list[Attempt]) -> None:
        self.requests.labels(call.model, call.operation).inc()
        if outcome is None:
            error = attempts[-1].outcome if attempts else "no_attempt"
            self.errors.labels(call.model, error).inc()
            return
        self.tokens.labels(call.model, "input").inc(outcome.prompt_tokens)
        self.tokens.labels(call.model, "output").inc(outcome.completion_tokens)
        self.cost_usd.labels(call.model).inc(outcome.cost_micro_usd)
        self.fees.labels(call.model).inc(outcome.fee_neuron)


class BreakerStates(Collector):
    """zerog_inference_breaker_state{provider, state}: 1 for each provider's current state,
    read at scrape time, so an open breaker shows without waiting for a call."""

    STATES = ("closed", "half-open", "open")

    def __init__(self, breakers: Breakers) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "zerog_inference_breaker_state",
            "Circuit breaker state per provider (1 for the current state)",
            labels=["provider", "state"],
        )
        for provider in self._breakers.providers():
            current = self._breakers.state(provider)
            for state in self.STATES:
                family.add_metric([provider, state], 1.0 if state == current else 0.0)
        yield family
