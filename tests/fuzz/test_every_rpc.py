"""Property: for every RPC of every service (found through reflection), unary and streaming, any
request message built from its descriptor is answered with a clear status, never INTERNAL,
UNKNOWN or a hang, and the server stays SERVING. Oversized messages are refused with
RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings

from devnet.storage_node import StorageNetwork
from services.storage.server import MAX_MESSAGE_BYTES as STORAGE_MAX
from tests.fuzz.strategies import messages
from tests.security.reflection import Method, call, discover
from tests.stack import SERVICES, Stack
from zerog_grpc import ANY_SERVICE
from zerog_grpc.server import DEFAULT_MAX_MESSAGE_BYTES

EXAMPLES = 25
LIMITS = {"storage": STORAGE_MAX}
BROKEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED)
# Watches stay open until the caller's deadline: reaching it is their normal end, not a hang.
WATCHES = {"/zerog.quota.v1.QuotaService/WatchAlerts"}
WATCH_SECONDS = 0.5


@pytest.fixture(scope="module")
async def everything(stack: Stack, storage_network: StorageNetwork) -> Stack:
    return await stack.start(*SERVICES, nodes=[n.url for n in storage_network.nodes])


def caller_for(stack: Stack, service: str, method: Method) -> str:
    """A service allowed to call `method`: admin when it may, else the first one listed."""
    allow = stack.configs[service].allow
    allowed = allow.get(method.path) or allow.get(method.name) or frozenset()
    if "admin" in allowed or ANY_SERVICE in allowed:
        return "admin"
    return str(sorted(allowed)[0])


async def serving(stack: Stack, service: str) -> bool:
    health: Any = health_pb2_grpc.HealthStub(stack.channels[service])
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def fuzz_method(
    stack: Stack, service: str, method: Method, loop: asyncio.AbstractEventLoop
) -> list[str]:
    """Run hypothesis (in this worker thread) against `method`; what went wrong, if anything."""
    metadata = stack.md(service, caller_for(stack, service, method))
    channel = stack.channels[service]
    broken: list[str] = []
    watch = method.path in WATCHES
    seconds = WATCH_SECONDS if watch else 20
    bad = tuple(c for c in BROKEN if not (watch and c == grpc.StatusCode.DEADLINE_EXCEEDED))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        # The same examples every run, so CI is reproducible and known bugs stay pinned.
        derandomize=True,
        # Failures are collected, not raised: one report lists every RPC that broke.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(messages(method.input))
    def one(request: Message) -> None:
        running = asyncio.run_coroutine_threadsafe(
            call(channel, method, request, metadata, seconds=seconds), loop
        )
        outcome = running.result(timeout=60)
        if outcome.code in bad and len(broken) < 3:
            broken.append(
                f"{method.path} -> {outcome.code.name} {outcome.details!r} on {request!r:.300}"
            )

    one()
    return broken


async def _fuzz_every(everything: Stack, service: str, unary: bool) -> None:
    loop = asyncio.get_running_loop()
    methods = [m for m in await discover(everything.address(service)) if m.unary == unary]
    assert methods
    broken: list[str] = []
    for method in methods:
        broken += await asyncio.to_thread(fuzz_method, everything, service, method, loop)
        assert await serving(everything, service), f"{service} stopped serving after {method.path}"
    assert broken == []


@pytest.mark.parametrize("service", SERVICES)
async def test_no_request_breaks_a_unary_rpc(everything: Stack, service: str) -> None:
    await _fuzz_every(everything, service, unary=True)


STREAMING = sorted({"inference", "quota", "storage"} & set(SERVICES))


@pytest.mark.parametrize("service", STREAMING)
async def test_no_request_breaks_a_streaming_rpc(everything: Stack, service: str) -> None:
    await _fuzz_every(everything, service, unary=False)


def _first_text_field(method: Method) -> str | None:
    for field in method.input.fields:
        if field.type == field.TYPE_STRING and not field.is_repeated:
            return str(field.name)
    return None


@pytest.mark.parametrize("service", SERVICES)
async def test_oversized_messages_are_resource_exhausted(everything: Stack, service: str) -> None:
    limit = LIMITS.get(service, DEFAULT_MAX_MESSAGE_BYTES)
    methods = await discover(everything.address(service))
    checked = []
    # One unary method and every client stream: one text field just over the server's limit.
    chosen = [m for m in methods if m.unary and _first_text_field(m)][:1]
    chosen += [m for m in methods if m.client_streaming]
    for method in chosen:
        name = _first_text_field(method)
        if name is None:
            # A streamed message with only a oneof of submessages: oversize its bytes field.
            name = next(f.name for f in method.input.fields if f.type == f.TYPE_BYTES)
            request = method.request(**{name: b"x" * (limit + 1)})
        else:
            request = method.request(**{name: "x" * (limit + 1)})
        md = everything.md(service, caller_for(everything, service, method))
        outcome = await call(everything.channels[service], method, request, md)
        checked.append((method.name, outcome.code))
    assert checked and all(code == grpc.StatusCode.RESOURCE_EXHAUSTED for _, code in checked), (
        checked
    )
    assert await serving(everything, service)
