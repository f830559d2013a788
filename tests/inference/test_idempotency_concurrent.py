"""Twenty concurrent ChatCompletion calls with one request_id: the provider answers once, the
usage is billed once, and every caller gets that answer, at once or by retrying after the
RetryInfo of its ABORTED REQUEST_IN_PROGRESS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import Inference, StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail

CALLERS = 20
SUBJECT = "user:twenty"


@pytest.fixture
def slow_cheap(trio: Trio, reset_knobs: None) -> Iterator[None]:
    """The cheap provider answers slowly, so the duplicates arrive while the first runs."""
    trio.cheap.set_knobs(first_token_delay_ms=600)
    yield


def retry_after(error: BaseException) -> float:
    """The RetryInfo delay of an ABORTED REQUEST_IN_PROGRESS (and nothing else)."""
    assert isinstance(error, grpc.aio.AioRpcError), error
    assert error.code() == grpc.StatusCode.ABORTED, error
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "REQUEST_IN_PROGRESS"
    retry = unpack_detail(error, error_details_pb2.RetryInfo)
    assert retry is not None
    return retry.retry_delay.ToTimedelta().total_seconds()


async def call_until_answered(
    inference: Inference, request: pb.ChatCompletionRequest
) -> tuple[pb.ChatCompletionResponse, int]:
    """The answer, retrying as each refusal's RetryInfo says; and how many refusals it took."""
    refusals = 0
    while True:
        try:
            return await inference.chat.ChatCompletion(request, metadata=inference.md()), refusals
        except grpc.aio.AioRpcError as error:
            delay = retry_after(error)
            refusals += 1
            assert refusals < 30, "still in progress after 30 retries"
            await asyncio.sleep(delay)


async def test_twenty_concurrent_calls_with_one_request_id_call_and_bill_once(
    start_inference: StartInference, trio: Trio, slow_cheap: None
) -> None:
    inference = await start_inference(trio.all, REQUEST_RETRY_AFTER_SECONDS="0.2")
    served = trio.cheap.status()["requests_served"]
    request = pb.ChatCompletionRequest(
        request_id="twenty-at-once",
        subject=SUBJECT,
        model=trio.model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="one answer for all")],
        max_tokens=16,
        routing=pb.RoutingOptions(provider=trio.cheap.provider),
    )

    results = await asyncio.gather(
        *(call_until_answered(inference, request) for _ in range(CALLERS))
    )

    answers = [answer for answer, _ in results]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0].choices[0].message.content
    # The first call ran while the others arrived: they were refused, and their retries replayed.
    assert sum(1 for _, refusals in results if refusals) >= CALLERS // 2
    assert trio.cheap.status()["requests_served"] == served + 1
    usage = await inference.broker.pool.fetch("SELECT request_id FROM usage")
    assert len(usage) == 1
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject=SUBJECT), metadata=inference.quota.as_service()
    )
    assert len(records.cost_records) == 1
    total = answers[0].usage.prompt_tokens + answers[0].usage.completion_tokens
    assert records.cost_records[0].cost_micro_usd == answers[0].cost.cost_micro_usd
    assert answers[0].cost.fee_neuron == str(total)
