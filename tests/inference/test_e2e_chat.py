"""Acceptance 1, 2 and 4 end to end: devnet providers, a real broker, quota and inference."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail

HELLO = [pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="hello there devnet")]


def ask(model: str, request_id: str, **routing: object) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id,
        subject="user:alice",
        model=model,
        messages=HELLO,
        max_tokens=16,
        routing=pb.RoutingOptions(**routing),  # type: ignore[arg-type]
    )


async def test_unary_chat_through_the_devnet_provider(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)

    reply = await inference.chat.ChatCompletion(ask(trio.model, "u1"), metadata=inference.md())

    assert reply.choices[0].message.content
    assert reply.routing.provider.lower() == trio.cheap.provider.lower()
    assert reply.routing.strategy == pb.ROUTING_STRATEGY_COST
    assert reply.usage.prompt_tokens == 3 and not reply.usage.counted_locally
    total = reply.usage.prompt_tokens + reply.usage.completion_tokens
    # The cheap provider charges 1 neuron per token either way.
    assert reply.cost.fee_neuron == str(total)
    # Default quota price: 20000 micro-dollars per 1000 tokens.
    assert reply.cost.cost_micro_usd == total * 20
    # Checked right after the answer, by inference itself.
    assert reply.verification.status == pb.VERIFICATION_STATUS_PENDING
    checked = await inference.verification("u1")
    assert checked.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    assert checked.verification.chat_id == reply.verification.chat_id
    await inference.settled()
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject="user:alice"), metadata=inference.quota.as_service()
    )
    assert records.cost_records[0].items[0].amount == total
    assert records.cost_records[0].cost_micro_usd == reply.cost.cost_micro_usd
    # The answer-to-settled lag is exported (observed just after the settler's round commits).
    metrics = inference.server.settler.metrics.registry
    lag = "zerog_inference_settlement_lag_seconds_count"
    for _ in range(250):
        if metrics.get_sample_value(lag):
            break
        await asyncio.sleep(0.02)
    assert metrics.get_sample_value(lag) == 1

    again = await inference.chat.ChatCompletion(ask(trio.model, "u1"), metadata=inference.md())
    assert again == reply  # a retry is answered from the record, not by a second call


async def test_stream_tokens_arrive_before_the_provider_finishes(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    inference = await start_inference(trio.all)
    trio.cheap.set_knobs(token_delay_ms=400)
    served = trio.cheap.status()["requests_served"]

    stream = inference.chat.StreamChatCompletion(
        pb.StreamChatCompletionRequest(request=ask(trio.model, "s1")), metadata=inference.md()
    )
    first = await stream.read()
    assert isinstance(first, pb.StreamChatCompletionResponse) and first.content_delta
    # The provider counts a request as served only once its last token is written.
    assert trio.cheap.status()["requests_served"] == served

    pieces = [first.content_delta]
    last = first
    while (message := await stream.read()) is not grpc.aio.EOF:
        assert isinstance(message, pb.StreamChatCompletionResponse)
        pieces.append(message.content_delta)
        last = message
    assert trio.cheap.status()["requests_served"] == served + 1
    assert last.finish_reason and last.usage.completion_tokens == len("".join(pieces).split())
    assert last.routing.provider.lower() == trio.cheap.provider.lower()
    assert last.verification.status == pb.VERIFICATION_STATUS_PENDING
    checked = await inference.verification("s1")
    assert checked.verification.status == pb.VERIFICATION_STATUS_VERIFIED


async def test_each_strategy_picks_its_provider(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    md = inference.md()
    # Teach the service each provider's latency and success, one pinned call each.
    for i, p in enumerate(trio.all):
        await inference.chat.ChatCompletion(
            ask(trio.model, f"warm{i}", provider=p.provider), metadata=md
        )

    cost = await inference.chat.ChatCompletion(
        ask(trio.model, "c", strategy=pb.ROUTING_STRATEGY_COST), metadata=md
    )
    latency = await inference.chat.ChatCompletion(
        ask(trio.model, "l", strategy=pb.ROUTING_STRATEGY_LATENCY), metadata=md
    )
    assert cost.routing.provider.lower() == trio.cheap.provider.lower()
    assert latency.routing.provider.lower() == trio.fast.provider.lower()
    assert "latency" in latency.routing.reason and len(latency.routing.candidates) == 3

    # Reliability: one failure on the fast provider makes it the least reliable.
    trio.fast.set_knobs(error_rate=1.0, error_status=503)
    try:
        failed = await inference.chat.ChatCompletion(
            pb.ChatCompletionRequest(
                request_id="f",
                subject="user:alice",
                model=trio.model,
                messages=HELLO,
                max_tokens=16,
                routing=pb.RoutingOptions(provider=trio.fast.provider),
            ),
            metadata=md,
        )
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    else:
        pytest.fail(f"expected a failure, got {failed}")
    finally:
        trio.fast.set_knobs(error_rate=0.0)
    reliable = await inference.chat.ChatCompletion(
        ask(trio.model, "r", strategy=pb.ROUTING_STRATEGY_RELIABILITY), metadata=md
    )
    assert reliable.routing.provider.lower() != trio.fast.provider.lower()


async def test_a_user_at_quota_is_refused_before_any_provider_call(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    await inference.quota.stub.SetSubjectTier(
        qpb.SetSubjectTierRequest(
            subject="user:bob", tier="custom", custom_limits=qpb.Limits(compute_tokens=10)
        ),
        metadata=inference.quota.as_service("admin"),
    )
    served = [p.status()["requests_served"] for p in trio.all]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.chat.ChatCompletion(
            pb.ChatCompletionRequest(
                request_id="q", subject="user:bob", model=trio.model, messages=HELLO
            ),
            metadata=inference.md(),
        )

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
    assert failure is not None and failure.violations[0].subject.startswith("user:bob")
    assert [p.status()["requests_served"] for p in trio.all] == served
