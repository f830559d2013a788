"""Calls with a real session token: unary and SSE answers, usage, fees, TEE signatures."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
from web3 import Web3

from devnet import Devnet
from devnet.provider import ProviderProcess
from tests.devnet.provider.provider_helpers import PROMPT, chat, fee_of, new_user
from zerog_signing import verify_tee_response


def _sse_events(body: str) -> list[str]:
    return [line.removeprefix("data: ") for line in body.split("\n\n") if line]


def test_unary_call_is_answered_with_usage_and_the_chat_id_header(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    user = new_user(running_devnet, devnet_w3, devnet_provider.provider)

    response = chat(devnet_provider, user.headers(devnet_provider.provider))

    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["ZG-Res-Key"] == body["id"]
    assert body["object"] == "chat.completion"
    content = body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == len(PROMPT["messages"][0]["content"].split())
    assert usage["completion_tokens"] == len(content.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_same_prompt_gives_the_same_answer(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    user = new_user(running_devnet, devnet_w3, devnet_provider.provider)
    headers = user.headers(devnet_provider.provider)
    other = {"messages": [{"role": "user", "content": "something else entirely"}]}

    first, second = chat(devnet_provider, headers).json(), chat(devnet_provider, headers).json()
    third = chat(devnet_provider, headers, other).json()

    assert first["choices"] == second["choices"]
    assert first["id"] != second["id"]
    assert third["choices"] != first["choices"]


def test_stream_sends_sse_chunks_that_add_up_to_the_unary_answer(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    user = new_user(running_devnet, devnet_w3, devnet_provider.provider)
    headers = user.headers(devnet_provider.provider)
    unary = chat(devnet_provider, headers).json()

    response = chat(devnet_provider, headers, {**PROMPT, "stream": True})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks: list[dict[str, Any]] = [json.loads(e) for e in events[:-1]]
    assert {c["id"] for c in chunks} == {response.headers["ZG-Res-Key"]}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == unary["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == unary["usage"]


def test_signature_endpoint_signs_sha256_of_request_and_response_with_the_tee_key(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    user = new_user(running_devnet, devnet_w3, devnet_provider.provider)
    request_body = json.dumps({**PROMPT, "model": "zerog-devnet-echo"}).encode()
    response = httpx.post(
        f"{devnet_provider.url}/v1/proxy/chat/completions",
        content=request_body,
        headers={**user.headers(devnet_provider.provider), "Content-Type": "application/json"},
    )
    chat_id = response.headers["ZG-Res-Key"]

    signed = httpx.get(
        f"{devnet_provider.url}/v1/proxy/signature/{chat_id}", params={"model": "m"}
    ).json()

    expected = (
        hashlib.sha256(request_body).hexdigest()
        + ":"
        + hashlib.sha256(response.content).hexdigest()
    )
    assert signed["text"] == expected
    assert signed["signing_address"] == devnet_provider.tee_signer
    assert signed["signing_algo"] == "ecdsa"
    assert verify_tee_response(signed["text"], signed["signature"], devnet_provider.tee_signer)
    missing = httpx.get(f"{devnet_provider.url}/v1/proxy/signature/chatcmpl-unknown")
    assert (missing.status_code, missing.json()) == (404, {"error": "chat signature not found"})


def test_unsettled_fee_meters_each_call_and_is_private_to_its_user(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    user = new_user(running_devnet, devnet_w3, devnet_provider.provider)
    other = new_user(running_devnet, devnet_w3, devnet_provider.provider)
    headers = user.headers(devnet_provider.provider)
    usages = [chat(devnet_provider, headers).json()["usage"] for _ in range(2)]
    stream = chat(devnet_provider, headers, {**PROMPT, "stream": True})
    usages.append(json.loads(_sse_events(stream.text)[-2])["usage"])

    mine = httpx.get(f"{devnet_provider.url}/v1/user/{user.address}/unsettledfee", headers=headers)
    theirs = httpx.get(
        f"{devnet_provider.url}/v1/user/{other.address}/unsettledfee", headers=headers
    )

    expected = sum(fee_of(u, 1_000_000_000, 2_000_000_000) for u in usages)
    assert mine.json() == {"userAddress": user.address, "unsettledFee": str(expected)}
    assert theirs.status_code == 403
    assert theirs.json() == {"error": "cannot query another user's unsettled fee"}
