"""One request_id rule: the longest id the API accepts, and one with every allowed character,
leave exactly one usage row at the broker (ids derived from them fit) and one TEE check."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import request_ids, unpack_detail

HELLO = [pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="hello there devnet")]
LONGEST = "L" * (request_ids.MAX_LENGTH - 1) + "~"
EVERY_CHARACTER = request_ids.ALLOWED_CHARACTERS


def ask(model: str, request_id: str) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id, subject="user:alice", model=model, messages=HELLO, max_tokens=16
    )


@pytest.mark.parametrize(
    "request_id", [LONGEST, EVERY_CHARACTER, "x" * 96], ids=["longest", "every-character", "96"]
)
async def test_a_long_or_odd_request_id_is_billed_and_verified_once(
    start_inference: StartInference, trio: Trio, request_id: str
) -> None:
    inference = await start_inference(trio.all)

    md = inference.md()

    reply = await inference.chat.ChatCompletion(ask(trio.model, request_id), metadata=md)
    again = await inference.chat.ChatCompletion(ask(trio.model, request_id), metadata=md)

    assert again == reply
    total = reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.cost.fee_neuron == str(total)
    checked = await inference.verification(request_id)
    assert checked.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    await inference.settled()
    pool = inference.broker.pool
    usage = await pool.fetch("SELECT request_id, provider, fee_neuron FROM usage")
    assert [(r["provider"].lower(), int(r["fee_neuron"])) for r in usage] == [
        (trio.cheap.provider.lower(), total)
    ]
    assert request_ids.valid(usage[0]["request_id"])
    # One check, kept by inference under the caller's request_id (the broker has none).
    verified = await inference.pool.fetch(
        "SELECT request_id, verification FROM inference.answer_sources"
    )
    assert [tuple(r) for r in verified] == [(request_id, "verified")]
    assert await pool.fetchval("SELECT count(*) FROM verifications") == 0


@pytest.mark.parametrize(
    "request_id",
    ["with space", "L" * (request_ids.MAX_LENGTH + 1), "\u00e9"],
    ids=["space", "too-long", "non-ascii"],
)
async def test_an_id_outside_the_rule_is_refused_before_any_call(
    start_inference: StartInference, trio: Trio, request_id: str
) -> None:
    inference = await start_inference(trio.all)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await inference.chat.ChatCompletion(ask(trio.model, request_id), metadata=inference.md())

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(caught.value, error_details_pb2.BadRequest)
    assert bad is not None
    assert [v.field for v in bad.field_violations] == ["request_id"]
    assert await inference.broker.pool.fetchval("SELECT count(*) FROM usage") == 0
