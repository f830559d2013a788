"""response_format on ChatCompletionRequest reaches the provider (the devnet model answers JSON,
fitting the schema when one is given); a malformed one is INVALID_ARGUMENT before any call."""

from __future__ import annotations

import json

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2

from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import unpack_detail

SCHEMA = {
    "type": "object",
    "properties": {
        "mood": {"enum": ["calm", "curious", "alert"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    },
    "required": ["mood", "score", "tags"],
}


MALFORMED = [
    (
        pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, json_schema="{not json"),
        "response_format.json_schema",
    ),
    (
        pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, json_schema="[1, 2]"),
        "response_format.json_schema",
    ),
    (
        pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA),
        "response_format.json_schema",
    ),
    (
        pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT, json_schema="{}"),
        "response_format.json_schema",
    ),
    (
        pb.ResponseFormat(
            type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, json_schema="{}", schema_name="a b"
        ),
        "response_format.schema_name",
    ),
]


def ask(trio: Trio, request_id: str, fmt: pb.ResponseFormat | None) -> pb.ChatCompletionRequest:
    request = pb.ChatCompletionRequest(
        request_id=request_id,
        subject="user:jay",
        model=trio.model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="describe the mood as json")],
        max_tokens=200,
        routing=pb.RoutingOptions(provider=trio.cheap.provider),
    )
    if fmt is not None:
        request.response_format.CopyFrom(fmt)
    return request


async def test_response_format_reaches_the_provider(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    md = inference.md()

    text = await inference.chat.ChatCompletion(ask(trio, "text", None), metadata=md)
    with pytest.raises(ValueError):
        json.loads(text.choices[0].message.content)

    anything = await inference.chat.ChatCompletion(
        ask(trio, "obj", pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT)),
        metadata=md,
    )
    assert isinstance(json.loads(anything.choices[0].message.content), dict)

    shaped = await inference.chat.ChatCompletion(
        ask(
            trio,
            "schema",
            pb.ResponseFormat(
                type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
                json_schema=json.dumps(SCHEMA),
                schema_name="mood_reading",
                strict=True,
            ),
        ),
        metadata=md,
    )
    reading = json.loads(shaped.choices[0].message.content)
    assert set(reading) == {"mood", "score", "tags"}
    assert reading["mood"] in {"calm", "curious", "alert"} and 1 <= reading["score"] <= 5
    assert len(reading["tags"]) == 2 and all(isinstance(t, str) for t in reading["tags"])


async def test_a_malformed_response_format_is_refused_before_any_call(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    served = trio.cheap.status()["requests_served"]

    for i, (fmt, field) in enumerate(MALFORMED):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await inference.chat.ChatCompletion(ask(trio, f"bad{i}", fmt), metadata=inference.md())

        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, fmt
        bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
        assert bad is not None and [v.field for v in bad.field_violations] == [field], fmt
    assert trio.cheap.status()["requests_served"] == served
