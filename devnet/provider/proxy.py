"""POST /v1/proxy/chat/completions: unary and SSE answers, metering and TEE signatures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

from aiohttp import web

from devnet.provider.auth import Refusal
from devnet.provider.model import BadChatRequest, ChatRequest, answer, pieces
from devnet.provider.runtime import Runtime
from zerog_signing import sign_personal_message

RES_KEY_HEADER = "ZG-Res-Key"


def error_response(status: int, message: str) -> web.Response:
    """The Go provider's error shape: JSON {"error": message}."""
    return web.json_response({"error": message}, status=status)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """Checks the caller, answers (model or upstream), meters the fee, signs the exchange."""
    rt: Runtime = request.app["runtime"]
    body = await request.read()
    try:
        chat = ChatRequest.parse(body)
    except BadChatRequest as e:
        return error_response(400, str(e))
    knobs = rt.knobs
    try:
        user = await rt.auth.payer(
            request.headers.get("Authorization"), chat.prompt_tokens * knobs.input_price
        )
    except Refusal as r:
        return error_response(r.status, r.message)
    if rt.inject_error():
        status = knobs.error_status
        return error_response(status, HTTPStatus(status).phrase)
    chat_id = f"chatcmpl-{uuid.uuid4().hex}"
    words = answer(chat, rt.model)
    if knobs.first_token_delay_ms:
        await asyncio.sleep(knobs.first_token_delay_ms / 1000)
    if chat.stream:
        response, completion_tokens, sent = await _stream(request, rt, chat, chat_id, words)
    else:
        if knobs.token_delay_ms:
            await asyncio.sleep(knobs.token_delay_ms * len(words) / 1000)
        sent = json.dumps(_completion(rt, chat, chat_id, words), separators=(",", ":")).encode()
        completion_tokens = len(words)
        response = web.Response(
            body=sent, content_type="application/json", headers={RES_KEY_HEADER: chat_id}
        )
    fee = chat.prompt_tokens * knobs.input_price + completion_tokens * knobs.output_price
    rt.ledger.charge(user, chat_id, fee)
    text = hashlib.sha256(body).hexdigest() + ":" + hashlib.sha256(sent).hexdigest()
    rt.signatures.put(chat_id, text, sign_personal_message(rt.tee, text))
    rt.requests_served += 1
    return response


def _usage(chat: ChatRequest, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": chat.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": chat.prompt_tokens + completion_tokens,
    }


def _completion(rt: Runtime, chat: ChatRequest, chat_id: str, words: list[str]) -> dict[str, Any]:
    return {
        "id": chat_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": rt.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(words)},
                "finish_reason": "stop" if chat.max_tokens != len(words) else "length",
            }
        ],
        "usage": _usage(chat, len(words)),
    }


def _chunk(rt: Runtime, chat_id: str, created: int, **fields: Any) -> bytes:
    data = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": rt.model,
        **fields,
    }
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def _events(
    rt: Runtime, chat: ChatRequest, chat_id: str, words: list[str]
) -> AsyncIterator[bytes]:
    created = int(time.time())
    role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    yield _chunk(rt, chat_id, created, choices=[role])
    for i, piece in enumerate(pieces(words)):
        if i and rt.knobs.token_delay_ms:
            await asyncio.sleep(rt.knobs.token_delay_ms / 1000)
        delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        yield _chunk(rt, chat_id, created, choices=[delta])
    finish = "stop" if chat.max_tokens != len(words) else "length"
    yield _chunk(rt, chat_id, created, choices=[{"index": 0, "delta": {}, "finish_reason": finish}])
    # As OpenAI does with stream_options.include_usage: a last chunk with usage, no choices.
    yield _chunk(rt, chat_id, created, choices=[], usage=_usage(chat, len(words)))
    yield b"data: [DONE]\n\n"


async def _stream(
    request: web.Request, rt: Runtime, chat: ChatRequest, chat_id: str, words: list[str]
) -> tuple[web.StreamResponse, int, bytes]:
    """Send the SSE answer; returns the response, the tokens sent and the bytes sent.

    A stream in flight when the outage knob turns to `drop` breaks there: the connection is
    closed mid-answer and only the tokens already sent are charged (as a provider whose
    process died mid-stream would have metered them).
    """
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            RES_KEY_HEADER: chat_id,
        }
    )
    await response.prepare(request)
    sent = bytearray()
    tokens = 0
    async for event in _events(rt, chat, chat_id, words):
        if rt.knobs.outage == "drop" and request.transport is not None:
            request.transport.close()
            return response, tokens, bytes(sent)
        sent += event
        await response.write(event)
        tokens += b'"delta":{"content":' in event
    await response.write_eof()
    return response, len(words), bytes(sent)
