"""OpenTelemetry setup: one tracer provider per process, exported by OTLP when configured."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import grpc.aio
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes, AttributeValue


def sampler_from_env(env: Mapping[str, str]) -> Sampler:
    """OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as the OpenTelemetry spec names them;
    parentbased_always_on (the spec's default) when unset. ConfigError names a bad value."""
    # Imported here: settings imports auth, which imports this module.
    from zerog_grpc.settings import ConfigError

    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    fixed = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
    }
    if name in fixed:
        return fixed[name]
    if name not in ("traceidratio", "parentbased_traceidratio"):
        raise ConfigError(f"OTEL_TRACES_SAMPLER: unsupported sampler {name!r}")
    raw = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1.0"
    try:
        ratio = float(raw)
    except ValueError:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG must be a number, got {raw!r}") from None
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, got {ratio}")
    return TraceIdRatioBased(ratio) if name == "traceidratio" else ParentBasedTraceIdRatio(ratio)


class _WhenExported(Sampler):
    """`sampler` (OTEL_TRACES_SAMPLER) once some processor receives spans; until then spans
    are dropped: they still carry trace and span ids (for logs and propagation) but record
    nothing, which costs a fraction of a recorded span that no one would read."""

    def __init__(self, sampler: Sampler) -> None:
        self.exporting = False
        self._recording = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.exporting:
            return SamplingResult(Decision.DROP)
        return self._recording.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "WhenExported"


class _Provider(TracerProvider):
    """A tracer provider that starts recording spans when its first processor is added."""

    def __init__(self, resource: Resource, sampler: Sampler) -> None:
        self._when = _WhenExported(sampler)
        super().__init__(resource=resource, sampler=self._when)

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._when.exporting = True

    @property
    def exporting(self) -> bool:
        """Whether spans have somewhere to go."""
        return self._when.exporting


_instrumented = False


def _instrument_clients() -> None:
    global _instrumented
    if not _instrumented:
        AsyncPGInstrumentor().instrument()
        HTTPXClientInstrumentor().instrument()
        # Inference calls providers with aiohttp (services/inference/provider_http.py).
        AioHttpClientInstrumentor().instrument()
        _instrumented = True


def setup_tracing(
    service: str,
    env: Mapping[str, str] = os.environ,
    extra_processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Install the process-wide tracer provider and instrument asyncpg, httpx and aiohttp.

    Spans always get trace ids (so logs can carry them and context propagates between
    services); they leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set, are sampled
    as OTEL_TRACES_SAMPLER (and _ARG) say, and are
    recorded only once a processor exists (so a process without one spends almost nothing on
    them). asyncpg and httpx get spans of their own only when exporting from the start: a span
    per query is the largest share of tracing's cost on the hot path. OpenTelemetry
    lets a process set its provider once, so a second call (several services in one test
    process) adds its processors to the provider already installed.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if extra_processor is not None:
            current.add_span_processor(extra_processor)
            _instrument_clients()
        return current
    provider = _Provider(Resource.create({"service.name": service}), sampler_from_env(env))
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # Imported here: the exporter pulls in a gRPC client that tests without OTLP never need.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    if provider.exporting:
        _instrument_clients()
    return provider


def server_interceptor() -> grpc.aio.ServerInterceptor:
    """Starts a server span per RPC, continuing the caller's trace."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor()
    return interceptor


# Set once a channel was built without client interceptors: TokenMinter.metadata then adds the
# trace context to every outgoing call itself.
_by_hand = False


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors that start a span per call and propagate the trace context.

    None while this process's provider records nothing (no processor yet): a client span no one
    reads is not worth grpc.aio's intercepted-call path (~10% of inference's CPU per chat
    completion here); trace_metadata() then carries the context instead.
    """
    global _by_hand
    provider = trace.get_tracer_provider()
    if isinstance(provider, _Provider) and not provider.exporting:
        _by_hand = True
        return []
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors()
    return interceptors


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as call metadata, when no client interceptor adds it."""
    if not _by_hand:
        return ()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


def annotate(attributes: Mapping[str, AttributeValue | None]) -> None:
    """Set attributes on the current span (the RPC's server span), skipping None values.

    Never pass secrets: spans leave the process for the trace collector.
    """
    span = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, value)


def traceparent() -> str:
    """The current span's W3C traceparent ("" outside a trace): stored with work that is
    finished later, so that work can link back to the request that caused it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def linked_span(name: str, parents: Iterable[str], **attributes: AttributeValue) -> Iterator[None]:
    """A new trace's root span, linked to each traceparent in `parents` (work done for many
    requests at once, such as a settlement batch, belongs to none of their traces)."""
    links = []
    for parent in parents:
        if parent:
            found = trace.get_current_span(propagate.extract({"traceparent": parent}))
            if found.get_span_context().is_valid:
                links.append(Link(found.get_span_context()))
    tracer = trace.get_tracer("zerog")
    with tracer.start_as_current_span(name, context=Context(), links=links, attributes=attributes):
        yield
