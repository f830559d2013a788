"""Acceptance 2 and 3 end to end: breakers, retried and refused statuses, the caller's deadline."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import Inference, StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail

HELLO = [pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="hello again")]


def ask(model: str, request_id: str, **routing: object) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id,
        subject="user:carol",
        model=model,
        messages=HELLO,
        max_tokens=8,
        routing=pb.RoutingOptions(**routing),  # type: ignore[arg-type]
    )


async def _fails(
    inference: Inference, request: pb.ChatCompletionRequest, **kw: object
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.chat.ChatCompletion(request, metadata=inference.md(), **kw)  # type: ignore[arg-type]
    return raised.value


def _info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None
    return info


async def test_breaker_opens_after_five_failures_moves_traffic_and_one_probe_closes_it(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    inference = await start_inference(trio.all)
    fast = trio.fast.provider
    for i in range(5):
        await inference.chat.ChatCompletion(
            ask(trio.model, f"ok{i}", provider=fast), metadata=inference.md()
        )
    for p in (trio.cheap, trio.middle):  # measured, so the latency strategy ranks fast first
        await inference.chat.ChatCompletion(
            ask(trio.model, f"warm-{p.provider}", provider=p.provider), metadata=inference.md()
        )
    trio.fast.set_knobs(error_rate=1.0, error_status=503)

    first = await _fails(inference, ask(trio.model, "bad1", provider=fast))
    assert first.code() == grpc.StatusCode.UNAVAILABLE
    assert _info(first).metadata["attempts"] == "3"  # 503 is retried: 3 attempts
    second = await _fails(inference, ask(trio.model, "bad2", provider=fast))
    # The 5th consecutive failure (2nd attempt here) opens the breaker: no 3rd attempt.
    assert _info(second).metadata["attempts"] == "2"

    moved = await inference.chat.ChatCompletion(
        ask(trio.model, "moved", strategy=pb.ROUTING_STRATEGY_LATENCY), metadata=inference.md()
    )
    assert moved.routing.attempt_log[0].provider.lower() == fast.lower()
    assert moved.routing.attempt_log[0].outcome == "breaker_open"
    assert moved.routing.provider.lower() != fast.lower()

    trio.fast.set_knobs(error_rate=0.0)
    inference.breaker_clock.now += 31  # past the 30 s cool-down
    models = await inference.chat.ListModels(pb.ListModelsRequest(), metadata=inference.md())
    states = {p.provider.lower(): p.breaker_state for m in models.models for p in m.providers}
    assert states[fast.lower()] == "half-open"
    probe = await inference.chat.ChatCompletion(
        ask(trio.model, "probe", provider=fast), metadata=inference.md()
    )
    assert probe.routing.provider.lower() == fast.lower() and probe.routing.attempts == 1
    models = await inference.chat.ListModels(pb.ListModelsRequest(), metadata=inference.md())
    states = {p.provider.lower(): p.breaker_state for m in models.models for p in m.providers}
    assert states[fast.lower()] == "closed"


async def test_refusals_are_not_retried(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    inference = await start_inference(trio.all)
    for status in (400, 401, 402, 404):
        trio.middle.set_knobs(error_rate=1.0, error_status=status)

        error = await _fails(
            inference, ask(trio.model, f"r{status}", provider=trio.middle.provider)
        )

        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        info = _info(error)
        assert info.reason == "PROVIDER_REJECTED"
        assert (info.metadata["status"], info.metadata["attempts"]) == (str(status), "1")
    # Every failed call gave its reservation back (and the replica its idle lease).
    await inference.settled()
    standing = await inference.quota.stub.GetQuota(
        qpb.GetQuotaRequest(subject="user:carol"), metadata=inference.quota.as_service()
    )
    tokens = next(u for u in standing.usages if u.unit == qpb.UNIT_COMPUTE_TOKENS)
    assert (tokens.reserved, tokens.used) == (0, 0)
    # Refusals say nothing about the provider's health: its breaker stays closed.
    models = await inference.chat.ListModels(pb.ListModelsRequest(), metadata=inference.md())
    states = {p.provider.lower(): p.breaker_state for m in models.models for p in m.providers}
    assert states[trio.middle.provider.lower()] == "closed"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_retried_then_fail_over(
    start_inference: StartInference, trio: Trio, reset_knobs: None, status: int
) -> None:
    inference = await start_inference(trio.all)
    trio.cheap.set_knobs(error_rate=1.0, error_status=status)

    reply = await inference.chat.ChatCompletion(
        ask(trio.model, f"t{status}"), metadata=inference.md()
    )

    outcomes = [(a.provider.lower(), a.outcome) for a in reply.routing.attempt_log]
    cheap = trio.cheap.provider.lower()
    assert outcomes[:3] == [(cheap, f"http_{status}")] * 3
    assert reply.routing.provider.lower() == trio.middle.provider.lower()  # next cheapest
    assert reply.routing.attempts == 4


async def test_the_callers_deadline_is_honoured_across_retries(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    # A 20-60 s backoff cannot fit in a 3 s deadline: the service stops instead of sleeping.
    inference = await start_inference(trio.all, RETRY_BASE_SECONDS="40", RETRY_CAP_SECONDS="60")
    trio.cheap.set_knobs(error_rate=1.0, error_status=503)

    error = await _fails(
        inference, ask(trio.model, "dl", provider=trio.cheap.provider), timeout=3.0
    )

    assert error.code() == grpc.StatusCode.UNAVAILABLE  # answered by us, not by the deadline
    assert _info(error).metadata["attempts"] == "1"
