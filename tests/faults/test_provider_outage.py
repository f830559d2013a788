"""A provider lost in the middle of a streamed answer: the stream ends with UNAVAILABLE (a clear,
retryable status) and the caller's quota reservation is settled, not left holding budget.

Inference bills the tokens that reached the caller before the loss (the provider charged for
them), so the reservation ends committed for the partial answer rather than released."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import pytest

from devnet.provider import ProviderProcess
from tests.settlement import settled
from tests.stack import Stack
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub

SUBJECT = "user:mid-stream"


async def test_provider_gone_mid_stream_ends_unavailable_and_settles_quota(
    stack: Stack, start_provider: Callable[..., ProviderProcess]
) -> None:
    model = f"outage-{uuid.uuid4().hex[:8]}"
    provider = start_provider(model=model, knobs={"token_delay_ms": 250})
    # Reservations per call (no budget leases): the test follows one reservation's end.
    await stack.start("inference", providers=[provider], env={"inference": {"LEASE_TOKENS": "0"}})
    stub: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(
        stack.channels["inference"]
    )
    request = pb.ChatCompletionRequest(
        request_id=uuid.uuid4().hex,
        subject=SUBJECT,
        model=model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="tell me a long story")],
        max_tokens=64,
        routing=pb.RoutingOptions(provider=provider.provider),
    )
    stream = stub.StreamChatCompletion(
        pb.StreamChatCompletionRequest(request=request), metadata=stack.md("inference", "app")
    )
    first = await stream.read()
    assert isinstance(first, pb.StreamChatCompletionResponse) and first.content_delta

    provider.process.kill()  # gone at once, its connections with it
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        while await stream.read() is not grpc.aio.EOF:
            pass
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE, ended.value.details()

    # The partial answer is settled off the request path: wait for the settler.
    await settled(stack.pools["inference"])
    quota = stack.pools["quota"]
    states = [
        r["state"]
        for r in await quota.fetch("SELECT state FROM reservations WHERE subject = $1", SUBJECT)
    ]
    assert states in (["committed"], ["released"])
    if states == ["committed"]:
        billed = await quota.fetchval(
            "SELECT sum((i->>'amount')::bigint) FROM cost_records, jsonb_array_elements(items) i"
            " WHERE subject = $1",
            SUBJECT,
        )
        # Only the partial answer: less than the prompt plus the 64 tokens asked for.
        assert 0 < billed < 4 + 64
