"""python -m devnet.otlp_receiver: an OTLP/gRPC trace receiver that keeps spans to be queried.

Where the OpenTelemetry collector and Jaeger images cannot be pulled (docker-compose.local.yml),
one instance stands in for the collector (receives from every service, drops header-like
attributes as the collector's `attributes/scrub` does, forwards with --forward) and one for
Jaeger (keeps the spans). Both answer over HTTP:

    GET /api/traces/{trace_id}   the spans of one trace (32 hex digits), oldest first
    GET /api/spans?service=S&name=N   spans by service.name and/or span name
    GET /healthz                 200 once serving
    GET /metrics                 spans received and forwarded, for Prometheus

Spans are kept in memory, the newest --max-spans of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Iterable
from typing import Any

import grpc
import grpc.aio
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client import CollectorRegistry, Counter, generate_latest

log = logging.getLogger("devnet.otlp_receiver")
# What the collector's attributes/scrub processor deletes (deploy/otel-collector.yaml).
SCRUBBED = frozenset(
    {
        "rpc.grpc.request.metadata.authorization",
        "http.request.header.authorization",
        "http.request.header.cookie",
    }
)
KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(any_value: Any) -> object:
    """An OTLP AnyValue as plain JSON."""
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind) if kind else None


def _attributes(pairs: Iterable[Any]) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _scrub(request: Any) -> None:
    """Delete header-like attributes from every span, in place."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kept = [a for a in span.attributes if a.key not in SCRUBBED]
                if len(kept) != len(span.attributes):
                    del span.attributes[:]
                    span.attributes.extend(kept)


def spans_of(request: Any) -> list[dict[str, object]]:
    """Each span of an ExportTraceServiceRequest as a JSON object, with its service's name."""
    found: list[dict[str, object]] = []
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    {
                        "service": service,
                        "name": span.name,
                        "kind": KINDS.get(span.kind, str(span.kind)),
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "status_code": span.status.code,
                        "attributes": _attributes(span.attributes),
                        "links": [
                            {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                            for link in span.links
                        ],
                    }
                )
    return found


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps the newest spans; forwards each export to the next hop when given one."""

    def __init__(self, max_spans: int, forward: str | None, registry: CollectorRegistry) -> None:
        self.spans: deque[dict[str, object]] = deque(maxlen=max_spans)
        self._channel = grpc.aio.insecure_channel(forward) if forward else None
        self._next = (
            trace_service_pb2_grpc.TraceServiceStub(self._channel) if self._channel else None
        )
        self.received = Counter(
            "otlp_receiver_spans_received_total", "Spans received.", registry=registry
        )
        self.forwarded = Counter(
            "otlp_receiver_spans_forwarded_total",
            "Spans forwarded, by outcome.",
            ["outcome"],
            registry=registry,
        )

    async def Export(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        _scrub(request)
        spans = spans_of(request)
        self.spans.extend(spans)
        self.received.inc(len(spans))
        if self._next is not None:
            try:
                await self._next.Export(request, timeout=10)
                self.forwarded.labels("ok").inc(len(spans))
            except grpc.aio.AioRpcError as error:
                # As the collector without a queue would: dropped, counted, logged; the sender
                # is not asked to retry what this receiver already keeps.
                self.forwarded.labels(error.code().name).inc(len(spans))
                log.warning("forwarding %d spans failed: %s", len(spans), error.code().name)
        return trace_service_pb2.ExportTraceServiceResponse()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def http_app(receiver: Receiver, registry: CollectorRegistry) -> web.Application:
    """The query, health and metrics endpoints."""

    async def trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"].lower()
        chosen = [s for s in receiver.spans if s["trace_id"] == trace_id]
        return web.json_response({"spans": chosen})

    async def spans(request: web.Request) -> web.Response:
        service, name = request.query.get("service"), request.query.get("name")
        chosen = [
            s
            for s in receiver.spans
            if (service is None or s["service"] == service) and (name is None or s["name"] == name)
        ]
        return web.json_response({"spans": chosen})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/api/traces/{trace_id}", trace)
    app.router.add_get("/api/spans", spans)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(args: argparse.Namespace) -> None:
    """Serve OTLP/gRPC and HTTP until SIGTERM or SIGINT."""
    registry = CollectorRegistry()
    receiver = Receiver(args.max_spans, args.forward, registry)
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    server.add_insecure_port(f"{args.host}:{args.otlp_port}")
    runner = web.AppRunner(http_app(receiver, registry))
    await runner.setup()
    await server.start()
    await web.TCPSite(runner, args.host, args.http_port).start()
    log.info("OTLP on %s:%d, HTTP on %s:%d", args.host, args.otlp_port, args.host, args.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(grace=2)
    await runner.cleanup()
    await receiver.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.otlp_receiver", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="bind address")
    parser.add_argument("--otlp-port", type=int, default=4317, help="OTLP/gRPC port")
    parser.add_argument("--http-port", type=int, default=16686, help="query/health/metrics port")
    parser.add_argument("--forward", default=None, help="HOST:PORT of the next OTLP receiver")
    parser.add_argument("--max-spans", type=int, default=100_000, help="spans kept in memory")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
