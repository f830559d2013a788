"""OpenTelemetry setup: one tracer provider per process, exported by OTLP when configured."""

from __future__ import annotations

import os
from collections.abc import Mapping

import grpc.aio
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.util.types import AttributeValue


def setup_tracing(
    service: str,
    env: Mapping[str, str] = os.environ,
    extra_processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Install the process-wide tracer provider and instrument asyncpg and httpx.

    Spans always get trace ids (so logs can carry them and context propagates between
    services); they leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set. OpenTelemetry
    lets a process set its provider once, so a second call (several services in one test
    process) adds its processors to the provider already installed.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if extra_processor is not None:
            current.add_span_processor(extra_processor)
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # Imported here: the exporter pulls in a gRPC client that tests without OTLP never need.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    return provider


def server_interceptor() -> grpc.aio.ServerInterceptor:
    """Starts a server span per RPC, continuing the caller's trace."""
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor()
    return interceptor


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors that start a span per call and propagate the trace context."""
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors()
    return interceptors


def annotate(attributes: Mapping[str, AttributeValue | None]) -> None:
    """Set attributes on the current span (the RPC's server span), skipping None values.

    Never pass secrets: spans leave the process for the trace collector.
    """
    span = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            span.set_attribute(key, value)
