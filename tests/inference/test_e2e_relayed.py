"""The broker's refusal reaches the inference caller as the broker said it: a provider nobody
acknowledged is FAILED_PRECONDITION with the broker's details, never a retryable UNAVAILABLE."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import unpack_detail


def ask(model: str, request_id: str) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id,
        subject="user:dora",
        model=model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="hello")],
        max_tokens=8,
    )


def assert_not_acknowledged(error: grpc.aio.AioRpcError, trio: Trio) -> None:
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "AcknowledgeProvider" in (error.details() or "")
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "PROVIDER_NOT_ACKNOWLEDGED"
    assert info.metadata["provider"].lower() in {p.provider.lower() for p in trio.all}
    failure = unpack_detail(error, error_details_pb2.PreconditionFailure)
    assert failure is not None and failure.violations[0].type == "ACKNOWLEDGEMENT"
    assert unpack_detail(error, error_details_pb2.RetryInfo) is None


async def test_unacknowledged_providers_are_failed_precondition(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference([])  # a funded ledger, no provider acknowledged
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.chat.ChatCompletion(ask(trio.model, "unacked"), metadata=inference.md())
    assert_not_acknowledged(raised.value, trio)

    stream = inference.chat.StreamChatCompletion(
        pb.StreamChatCompletionRequest(request=ask(trio.model, "unacked-stream")),
        metadata=inference.md(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in stream:
            pass
    assert_not_acknowledged(raised.value, trio)
