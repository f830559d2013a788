"""Concurrent duplicates of a request_id against two inference replicas sharing one database:
the provider serves one call, quota is charged once, every caller gets the first answer or
ABORTED REQUEST_IN_PROGRESS (unary, streamed, session message). A claim left by a killed
replica (a real process, SIGKILLed) is taken over once its lease has passed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devnet.process import dies_with_parent
from tests.inference.conftest import Inference, StartInference, Trio
from tests.support import auth_env
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail

ROOT = Path(__file__).parents[2]
T = TypeVar("T")
CALLERS = 10


def ask(trio: Trio, request_id: str, subject: str) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id,
        subject=subject,
        model=trio.model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="only once please")],
        max_tokens=16,
        routing=pb.RoutingOptions(provider=trio.cheap.provider),
    )


def in_progress(error: BaseException) -> bool:
    """ABORTED with ErrorInfo(REQUEST_IN_PROGRESS) and a RetryInfo."""
    assert isinstance(error, grpc.aio.AioRpcError), error
    assert error.code() == grpc.StatusCode.ABORTED, error
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    retry = unpack_detail(error, error_details_pb2.RetryInfo)
    return info is not None and info.reason == "REQUEST_IN_PROGRESS" and retry is not None


async def race(calls: list[Awaitable[T]]) -> tuple[list[T], list[BaseException]]:
    """All calls at once; the answers and the refusals."""
    done = await asyncio.gather(*calls, return_exceptions=True)
    answers = [d for d in done if not isinstance(d, BaseException)]
    refused = [d for d in done if isinstance(d, BaseException)]
    assert all(in_progress(r) for r in refused), refused
    return answers, refused


async def charged(inference: Inference, other: Inference, subject: str) -> tuple[int, int]:
    """(cost records, tokens still reserved) of a subject at quota, once both replicas settled
    and gave their idle budget leases back."""
    await inference.settled()
    await other.settled()
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject=subject), metadata=inference.quota.as_service()
    )
    standing = await inference.quota.stub.GetQuota(
        qpb.GetQuotaRequest(subject=subject), metadata=inference.quota.as_service()
    )
    tokens = next(u for u in standing.usages if u.unit == qpb.UNIT_COMPUTE_TOKENS)
    return len(records.cost_records), tokens.reserved


@pytest.fixture
def slow_cheap(trio: Trio, reset_knobs: None) -> Iterator[None]:
    """The cheap provider answers slowly, so the duplicates arrive while the first runs."""
    trio.cheap.set_knobs(first_token_delay_ms=600)
    yield


async def test_concurrent_chat_completions_on_two_replicas_call_the_provider_once(
    start_inference: StartInference, trio: Trio, slow_cheap: None
) -> None:
    a = await start_inference(trio.all)
    b = await start_inference(trio.all)
    served = trio.cheap.status()["requests_served"]
    request = ask(trio, "dup-unary", "user:una")

    answers, _ = await race(
        [(a, b)[i % 2].chat.ChatCompletion(request, metadata=a.md()) for i in range(CALLERS)]
    )

    assert answers and all(x == answers[0] for x in answers)
    assert trio.cheap.status()["requests_served"] == served + 1
    assert await charged(a, b, "user:una") == (1, 0)
    # Once it is done, a retry on either replica is the first answer.
    for replica in (a, b):
        assert await replica.chat.ChatCompletion(request, metadata=a.md()) == answers[0]
    assert trio.cheap.status()["requests_served"] == served + 1


async def _read_stream(
    inference: Inference, request: pb.ChatCompletionRequest
) -> tuple[str, pb.StreamChatCompletionResponse]:
    call = inference.chat.StreamChatCompletion(
        pb.StreamChatCompletionRequest(request=request), metadata=inference.md()
    )
    text, last = "", pb.StreamChatCompletionResponse()
    async for message in call:
        text += message.content_delta
        last = message
    return text, last


async def test_concurrent_streams_on_two_replicas_call_the_provider_once(
    start_inference: StartInference, trio: Trio, slow_cheap: None
) -> None:
    a = await start_inference(trio.all)
    b = await start_inference(trio.all)
    served = trio.cheap.status()["requests_served"]
    request = ask(trio, "dup-stream", "user:sol")

    answers, _ = await race([_read_stream((a, b)[i % 2], request) for i in range(CALLERS)])

    texts = {text for text, _ in answers}
    assert len(texts) == 1 and texts.pop()
    assert len({last.cost.reservation_id for _, last in answers}) == 1
    assert trio.cheap.status()["requests_served"] == served + 1
    assert await charged(a, b, "user:sol") == (1, 0)
    # The unary call shares the stream's record.
    unary = await b.chat.ChatCompletion(request, metadata=b.md())
    assert unary.choices[0].message.content == answers[0][0]
    assert trio.cheap.status()["requests_served"] == served + 1


async def test_concurrent_session_messages_on_two_replicas_store_one_exchange(
    start_inference: StartInference, trio: Trio, slow_cheap: None
) -> None:
    a = await start_inference(trio.all)
    b = await start_inference(trio.all)
    md = a.md(user="ses")
    created = await a.sessions.CreateChatSession(
        pb.CreateChatSessionRequest(
            request_id="create", model=trio.model, routing=ask(trio, "x", "").routing
        ),
        metadata=md,
    )
    sid = created.session.session_id
    served = trio.cheap.status()["requests_served"]
    send = pb.SendChatMessageRequest(request_id="dup-send", session_id=sid, content="hi twice")

    answers, _ = await race(
        [(a, b)[i % 2].sessions.SendChatMessage(send, metadata=md) for i in range(CALLERS)]
    )

    assert answers and all(x == answers[0] for x in answers)
    assert trio.cheap.status()["requests_served"] == served + 1
    assert await charged(a, b, "user:ses") == (1, 0)
    session = await b.sessions.GetChatSession(pb.GetChatSessionRequest(session_id=sid), metadata=md)
    assert [m.role for m in session.session.messages] == [
        pb.CHAT_ROLE_USER,
        pb.CHAT_ROLE_ASSISTANT,
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _spawn_replica(
    db_url: str, inference: Inference, lease: str
) -> tuple[asyncio.subprocess.Process, grpc.aio.Channel]:
    """`python -m services.inference serve` as its own process, SERVING."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        **auth_env("inference"),
        "PORT": str(port),
        "METRICS_PORT": "0",
        "QUOTA_ADDRESS": f"127.0.0.1:{inference.quota.server.port}",
        "BROKER_ADDRESS": f"127.0.0.1:{inference.broker.server.port}",
        "PROVIDER_CACHE_SECONDS": "0",
        "REQUEST_LEASE_SECONDS": lease,
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        *dies_with_parent([sys.executable, "-m", "services.inference", "serve"]), cwd=ROOT, env=env
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    health: Any = health_pb2_grpc.HealthStub(channel)  # no async stub types
    for _ in range(300):
        assert process.returncode is None, "the replica exited"
        try:
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return process, channel
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the replica never served")


async def test_a_claim_left_by_a_killed_replica_is_taken_over_after_the_lease(
    start_inference: StartInference,
    inference_db_url: str,
    trio: Trio,
    reset_knobs: None,
) -> None:
    survivor = await start_inference(trio.all, REQUEST_LEASE_SECONDS="60")
    process, channel = await _spawn_replica(inference_db_url, survivor, lease="60")
    request = ask(trio, "dup-killed", "user:kim")
    # A slow stream: the provider notices the dead caller at its next token and serves nothing.
    trio.cheap.set_knobs(token_delay_ms=1000)
    try:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        first = stub.StreamChatCompletion(
            pb.StreamChatCompletionRequest(request=request), metadata=survivor.md()
        )
        assert isinstance(await first.read(), pb.StreamChatCompletionResponse)
        process.send_signal(signal.SIGKILL)  # a crash: nothing gives the claim back
        await process.wait()
        with pytest.raises(grpc.aio.AioRpcError) as lost:
            while await first.read() is not grpc.aio.EOF:
                pass
        assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await channel.close()
    pending = await survivor.pool.fetchrow(
        "SELECT claim_token, response FROM inference.idempotency WHERE request_id = $1",
        "dup-killed",
    )
    assert pending is not None and pending["claim_token"] and pending["response"] is None
    trio.cheap.set_knobs(token_delay_ms=0)

    # Within the lease the dead call's claim stands: refused, no provider call.
    served = trio.cheap.status()["requests_served"]
    with pytest.raises(grpc.aio.AioRpcError) as early:
        await _read_stream(survivor, request)
    assert in_progress(early.value)
    assert trio.cheap.status()["requests_served"] == served

    # The lease passes (it is measured by the database's clock, so the test moves the lease).
    await survivor.pool.execute(
        "UPDATE inference.idempotency SET lease_until = now() - interval '1 second'"
        " WHERE request_id = $1",
        "dup-killed",
    )
    text, last = await _read_stream(survivor, request)
    assert text and last.finish_reason
    assert trio.cheap.status()["requests_served"] == served + 1
    again = await survivor.chat.ChatCompletion(request, metadata=survivor.md())
    assert again.choices[0].message.content == text
    assert again.cost.reservation_id == last.cost.reservation_id
