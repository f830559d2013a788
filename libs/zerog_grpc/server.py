"""Server bootstrap: grpc.aio with our interceptors, health, reflection and graceful drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # the stubs lack grpc_health.v1.health.aio
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from zerog_grpc.auth import AuthInterceptor
from zerog_grpc.errormap import KERNEL_ERRORS, ErrorMap, MapErrors
from zerog_grpc.interceptors import ServerMetrics
from zerog_grpc.settings import AuthSettings
from zerog_grpc.tracing import server_interceptor
from zerog_grpc.wellformed import RefuseMalformed

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# grpc's default 4 MiB; services that stream content set their own.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Clients resolve a service's replicas when they connect (zerog_grpc.channels); closing each
# connection after this long makes them resolve again, so a pod added by the autoscaler gets
# calls within minutes. Calls in flight (quota's alert streams) finish on the old connection.
MAX_CONNECTION_AGE_MS = 5 * 60 * 1000


@dataclass
class RunningServer:
    """A started server, its health servicer and the port it bound."""

    server: grpc.aio.Server
    health: HealthServicer
    port: int
    service_names: Sequence[str]

    async def set_serving(self, serving: bool = True) -> None:
        """Report every service (and the overall server) as SERVING or NOT_SERVING."""
        status = SERVING if serving else NOT_SERVING
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float | None, delay: float = 0.0) -> None:
        """NOT_SERVING first, so load balancers stop routing here, then drain in-flight calls."""
        await self.announce_shutdown(delay)
        await self.server.stop(grace)

    async def announce_shutdown(self, delay: float = 0.0) -> None:
        """Report NOT_SERVING and keep accepting calls for `delay` seconds.

        grpc closes the listening socket as soon as stop() begins, so without the delay a
        balancer that polls health would see connection refused rather than NOT_SERVING, and
        calls it routes here in between would fail instead of being served.
        """
        await self.health.enter_graceful_shutdown()
        if delay > 0:
            await asyncio.sleep(delay)


D = TypeVar("D")


class Rpcs(Generic[D]):
    """The base of a service's RPC modules (`class LedgerRpcs(Rpcs[Deps])`), and so of its
    servicer, which inherits them: every handler reaches the service's parts through `deps`."""

    def __init__(self, deps: D) -> None:
        self.deps = deps


class Access(Protocol):
    """Who may call what: a service's ServiceSettings, or any object with the two fields."""

    @property
    def auth(self) -> AuthSettings: ...

    @property
    def allow(self) -> Mapping[str, Collection[str]]: ...


@dataclass
class ServiceServer:
    """A started service: its gRPC server and the parts that live and die with it.

    A service subclasses it with its parts (clients, loops) and overrides `stop_parts`, run
    after NOT_SERVING and before the drain (loops and watch streams, which would hold the drain
    open), and `close`, run after the drain (clients the last calls still used)."""

    running: RunningServer

    @property
    def port(self) -> int:
        return self.running.port

    async def stop(self, grace: float | None, delay: float = 0.0) -> None:
        """NOT_SERVING for `delay` s, stop the parts, drain calls for `grace` s, close."""
        await self.running.announce_shutdown(delay)
        await self.stop_parts(grace)
        await self.running.server.stop(grace)
        await self.close()

    async def stop_parts(self, grace: float | None) -> None:
        """Stop background work before the drain; nothing by default."""

    async def close(self) -> None:
        """Close clients after the drain; nothing by default."""


async def start_server(
    address: str,
    service_names: Sequence[str],
    register: Callable[[grpc.aio.Server], None],
    access: Access,
    registry: CollectorRegistry | None = None,
    *,
    errors: ErrorMap = KERNEL_ERRORS,
    serving: bool = True,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> RunningServer:
    """Start a server with tracing, metrics, auth and the service's error map
    (zerog_grpc.errormap), plus health and reflection.

    With `serving=False` health stays NOT_SERVING until the caller's dependencies are ready.
    """
    server = grpc.aio.server(
        # Order matters: the trace span wraps everything; auth refusals are counted in metrics;
        # only authenticated callers learn what is malformed; the error map sits closest to the
        # servicer so nothing escapes it.
        interceptors=[
            server_interceptor(),
            ServerMetrics(registry or CollectorRegistry()),
            AuthInterceptor(access.auth.verifier(), access.allow),
            RefuseMalformed(),
            MapErrors(errors),
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
        ],
    )
    register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*service_names, "grpc.health.v1.Health", reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    await server.start()
    running = RunningServer(server, health, port, service_names)
    await running.set_serving(serving)
    log.info("server started", extra={"address": address, "port": port})
    return running


def start_metrics_server(port: int, registry: CollectorRegistry) -> None:
    """Serve Prometheus metrics on their own port (0 disables them)."""
    if port:
        start_http_server(port, registry=registry)


async def wait_for_signal() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received, draining")
