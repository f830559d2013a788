"""Acceptance 2 of issue 19: the official `openai` package, unchanged, against inference's
OpenAI-compatible endpoint (devnet providers, a real broker, quota and PostgreSQL)."""

from __future__ import annotations

import json

import aiohttp
import grpc
import openai
import pytest

from services.inference import openai_wire
from services.inference.calls import build_call
from services.inference.provider_http import Credentials, request_body
from services.inference.retry import Deadline
from tests.inference.conftest import Inference, StartInference, Trio
from tests.support import auth_metadata
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import Caller
from zerog_grpc.auth import acting_as


def admin() -> tuple[tuple[str, str], ...]:
    """An admin's metadata, minted when used (tokens last 5 minutes)."""
    return auth_metadata("admin", "inference")


async def new_key(inference: Inference, subject: str, request_id: str) -> pb.CreateApiKeyResponse:
    return await inference.chat.CreateApiKey(
        pb.CreateApiKeyRequest(request_id=request_id, subject=subject, name="tests"),
        metadata=admin(),
    )


def client(inference: Inference, secret: str) -> openai.AsyncOpenAI:
    assert inference.server.openai is not None
    # No retries: each refusal is seen as it is sent.
    return openai.AsyncOpenAI(
        api_key=secret,
        base_url=f"http://127.0.0.1:{inference.server.openai.port}/v1",
        max_retries=0,
    )


async def test_chat_stream_and_models_through_the_openai_sdk(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all, http=True)
    made = await new_key(inference, "team:sdk", "key-sdk")
    assert made.secret.startswith("zk-") and made.key.subject == "team:sdk"
    sdk = client(inference, made.secret)

    answer = await sdk.chat.completions.create(
        model=trio.model,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there devnet", "name": "alice"},
        ],
        max_tokens=16,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["zzz"],
        user="end-user-1",
        extra_headers={"Idempotency-Key": "http-u1"},
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.total_tokens > 0
    # The same path as the gRPC door: the answer is recorded (and TEE-checked) under the key.
    stored = await inference.pool.fetchval(
        "SELECT count(*) FROM inference.answer_sources WHERE request_id = $1", "http-u1"
    )
    assert stored == 1
    again = await sdk.chat.completions.create(
        model=trio.model,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there devnet", "name": "alice"},
        ],
        max_tokens=16,
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["zzz"],
        user="end-user-1",
        extra_headers={"Idempotency-Key": "http-u1"},
    )
    assert again.choices[0].message.content == answer.choices[0].message.content
    assert again.id == answer.id

    stream = await sdk.chat.completions.create(
        model=trio.model,
        messages=[{"role": "user", "content": "stream to me please"}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(pieces).strip()
    assert finish in {"stop", "length"}
    assert usage is not None and usage.completion_tokens == len("".join(pieces).split())

    models = await sdk.models.list()
    assert trio.model in [m.id for m in models.data]

    # Every call was charged to the key's subject.
    await inference.settled()
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject="team:sdk"), metadata=inference.quota.as_service()
    )
    assert len(records.cost_records) == 2
    await sdk.close()


async def test_a_revoked_key_gets_401(start_inference: StartInference, trio: Trio) -> None:
    inference = await start_inference(trio.all, http=True)
    other = await start_inference(trio.all, http=True)  # a second replica, same database
    made = await new_key(inference, "team:gone", "key-gone")
    sdk = client(inference, made.secret)
    assert (await sdk.models.list()).data
    async with client(other, made.secret) as elsewhere:
        assert (await elsewhere.models.list()).data

    revoked = await inference.chat.RevokeApiKey(
        pb.RevokeApiKeyRequest(key_id=made.key.key_id), metadata=admin()
    )
    assert revoked.key.HasField("revoke_time")
    # At once: every call looks its key up.
    with pytest.raises(openai.AuthenticationError) as refused:
        await sdk.chat.completions.create(
            model=trio.model, messages=[{"role": "user", "content": "hello"}], max_tokens=4
        )
    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        await sdk.models.list()
    async with client(other, made.secret) as elsewhere:
        with pytest.raises(openai.AuthenticationError):
            await elsewhere.models.list()
    async with client(inference, "zk-not-a-key") as stranger:
        with pytest.raises(openai.AuthenticationError):
            await stranger.models.list()
    listed = await inference.chat.ListApiKeys(
        pb.ListApiKeysRequest(subject="team:gone", include_revoked=True), metadata=admin()
    )
    assert [k.key_id for k in listed.keys] == [made.key.key_id]
    await sdk.close()


async def test_an_over_budget_key_gets_429_with_retry_after(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all, http=True)
    await inference.quota.stub.SetSubjectTier(
        qpb.SetSubjectTierRequest(
            subject="team:tiny", tier="custom", custom_limits=qpb.Limits(compute_tokens=5)
        ),
        metadata=inference.quota.as_service("admin"),
    )
    made = await new_key(inference, "team:tiny", "key-tiny")
    sdk = client(inference, made.secret)
    served = trio.cheap.status()["requests_served"]

    with pytest.raises(openai.RateLimitError) as refused:
        await sdk.chat.completions.create(
            model=trio.model,
            messages=[{"role": "user", "content": "hello there devnet"}],
            max_tokens=64,
        )
    assert refused.value.status_code == 429
    assert refused.value.code == "quota_exceeded"
    assert int(refused.value.response.headers["Retry-After"]) >= 1
    # Refused before any provider was asked.
    assert trio.cheap.status()["requests_served"] == served
    await sdk.close()


async def test_unsupported_fields_and_bad_input_get_400(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all, http=True)
    sdk = client(inference, (await new_key(inference, "team:bad", "key-bad")).secret)
    hello = [{"role": "user", "content": "hello"}]

    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(model=trio.model, messages=hello, n=2)  # type: ignore[arg-type]
    assert refused.value.param == "n"
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(
            model=trio.model,
            messages=hello,  # type: ignore[arg-type]
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert refused.value.param == "tools" and refused.value.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(model=trio.model, messages=hello, temperature=3)  # type: ignore[arg-type]
    assert refused.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(model=trio.model, messages=hello, top_p=0)  # type: ignore[arg-type]
    assert refused.value.param == "top_p"
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.chat.completions.create(
            model=trio.model,
            messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}],
        )
    assert refused.value.param is not None and refused.value.param.startswith("messages[0]")
    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.chat.completions.create(model="no-such-model", messages=hello)  # type: ignore[arg-type]
    assert missing.value.code == "no_provider"

    # Not JSON: OpenAI's error shape all the same.
    assert inference.server.openai is not None
    url = f"http://127.0.0.1:{inference.server.openai.port}/v1/chat/completions"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=b"{", headers={"Authorization": f"Bearer {sdk.api_key}"}) as response,
    ):
        assert response.status == 400
        assert set((await response.json())["error"]) == {"message", "type", "param", "code"}
    await sdk.close()


async def test_api_keys_are_for_admins_and_stored_hashed(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await inference.chat.CreateApiKey(
            pb.CreateApiKeyRequest(request_id="k", subject="user:mallory"),
            metadata=inference.md(),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    made = await new_key(inference, "user:alice", "key-alice")
    row = await inference.pool.fetchrow(
        "SELECT * FROM inference.api_keys WHERE key_id = $1", made.key.key_id
    )
    assert row is not None and made.secret not in json.dumps({k: str(v) for k, v in row.items()})
    # A retry returns the same key, without the secret (it is shown once).
    again = await new_key(inference, "user:alice", "key-alice")
    assert again.key == made.key and again.secret == ""
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await inference.chat.RevokeApiKey(pb.RevokeApiKeyRequest(key_id="nope"), metadata=admin())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_openai_fields_reach_the_provider_body() -> None:
    """stop, top_p, seed, user and message names go to the provider as OpenAI names them."""
    ask = openai_wire.chat_ask(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "hi"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                    "name": "bo",
                },
            ],
            "stop": "END",
            "top_p": 0.5,
            "seed": 42,
            "user": "u-1",
            "max_completion_tokens": 9,
            "n": 1,
        },
        "rid",
        "team:x",
    )
    with acting_as(Caller(service="apikey:k1")):
        call = build_call(ask.request, Deadline.after(lambda: 0.0, None), invalid="bad")
    creds = Credentials("0x1", "Bearer x", "http://p", "m", False, 1, 1)
    body = json.loads(request_body(creds, call.payload(), stream=False))
    assert body["messages"] == [
        {"role": "system", "content": "hi"},
        {"role": "user", "content": "ab", "name": "bo"},
    ]
    assert (body["stop"], body["top_p"], body["seed"], body["user"]) == (["END"], 0.5, 42, "u-1")
    assert body["max_tokens"] == 9
    assert call.subject == "team:x" and call.request_id == "apikey:k1/rid"
