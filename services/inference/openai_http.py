"""The OpenAI-compatible HTTP endpoint: POST /v1/chat/completions (unary and SSE) and
GET /v1/models, for callers holding a bearer API key (api_keys).

It is another door to the same path: the JSON becomes a ChatCompletionRequest charged to the
key's subject, checked by build_call and answered by Deps.answer exactly as the gRPC
ChatCompletion is (idempotency under the `Idempotency-Key` header or a fresh id, budgets and
leases, the TEE check, the settlement outbox). Errors go through the same error map, then into
OpenAI's error shape."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.inference import api_keys, convert, openai_wire
from services.inference.calls import build_call
from services.inference.chat import ChatOutcome
from services.inference.deps import Deps
from services.inference.errors import ERRORS
from services.inference.openai_wire import ChatAsk, HttpError, WireError
from services.inference.retry import Deadline
from services.inference.store.api_keys import KeyRow
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_db import Claim
from zerog_grpc import Caller, request_ids
from zerog_grpc.auth import acting_as
from zerog_grpc.errormap import failure_for

log = logging.getLogger("services.inference.openai_http")
# The key of an HTTP caller, as the gRPC door's calling service: it scopes request ids.
KEY_CALLER = "apikey:{}"
_DEPS = web.AppKey("deps", Deps)


def _json(status: int, body: dict[str, Any], retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(body, status=status, headers=headers)


def _error(error: HttpError) -> web.Response:
    return _json(error.status, error.body, error.retry_after)


def _mapped(error: Exception) -> HttpError:
    """An exception as the gRPC door's error map would end the call, in OpenAI's shape."""
    if isinstance(error, WireError):
        return openai_wire.from_wire(error)
    failure = failure_for(error, ERRORS)
    if failure is None:
        log.exception("unexpected error", exc_info=error)
        return HttpError(
            500,
            {
                "error": {
                    "message": "internal error",
                    "type": "api_error",
                    "param": None,
                    "code": "internal",
                }
            },
        )
    return openai_wire.from_failure(error, failure)


class Unauthorized(Exception):
    """No live key in the Authorization header."""


async def _key(request: web.Request) -> KeyRow:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing bearer API key (Authorization: Bearer zk-...)")
    key = await api_keys.holder(request.app[_DEPS].pool, secret.strip())
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    return key


@dataclass(frozen=True)
class _Answering:
    """One chat call under way: what was asked and the events of its answer."""

    ask: ChatAsk
    events: AsyncGenerator[str | pb.ChatCompletionResponse]


def _answer(deps: Deps, key: KeyRow, data: Any, idempotency_key: str) -> _Answering:
    """The chat path of the gRPC ChatCompletion, for `key`'s subject (run as its caller)."""
    ask = openai_wire.chat_ask(data, idempotency_key, key.subject)
    call = build_call(
        ask.request, Deadline.after(deps.monotonic, None), invalid="invalid chat request"
    )

    async def respond(_: Claim, outcome: ChatOutcome) -> pb.ChatCompletionResponse:
        return convert.completion_response(outcome)

    once = deps.request("ChatCompletion", ask.request.request_id, ask.request)
    events = deps.answer(once, pb.ChatCompletionResponse, call, respond, stream=ask.stream)
    return _Answering(ask, events)


def _idempotency_key(request: web.Request) -> str:
    given = request.headers.get("Idempotency-Key")
    if given is None:
        return uuid.uuid4().hex
    problem = request_ids.check(given)
    if problem is not None:
        raise openai_wire.bad(f"Idempotency-Key {problem}", "Idempotency-Key")
    return given


async def chat_completions(request: web.Request) -> web.StreamResponse:
    deps = request.app[_DEPS]
    try:
        key = await _key(request)
    except Unauthorized as error:
        return _error(openai_wire.unauthorized(str(error)))
    except Exception as error:
        return _error(_mapped(error))
    with acting_as(Caller(service=KEY_CALLER.format(key.key_id))):
        try:
            try:
                data = json.loads(await request.read())
            except ValueError:
                raise openai_wire.bad("the request body is not valid JSON", None) from None
            answering = _answer(deps, key, data, _idempotency_key(request))
            if not answering.ask.stream:
                async with aclosing(answering.events) as events:
                    answers = [e async for e in events if not isinstance(e, str)]
                body = openai_wire.completion(answering.ask.request.request_id, answers[-1])
                return _json(200, body)
            # The first event is awaited before any byte is sent: a refusal (budget, key,
            # input, no provider) is still an HTTP status, not an event in a 200 stream.
            events = answering.events
            first = await anext(events)
        except Exception as error:
            return _error(_mapped(error))
        async with aclosing(events):
            return await _stream(request, answering, first, events)


async def _stream(
    request: web.Request,
    answering: _Answering,
    first: str | pb.ChatCompletionResponse,
    events: AsyncGenerator[str | pb.ChatCompletionResponse],
) -> web.StreamResponse:
    """SSE in OpenAI's chunk shape, then `data: [DONE]`; an error after the first chunk is one
    `data: {"error": ...}` event (the status was sent already)."""
    ask, request_id = answering.ask, answering.ask.request.request_id
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    created, model = int(time.time()), ask.request.model

    async def send(payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await response.write(f"data: {text}\n\n".encode())

    await send(openai_wire.chunk(request_id, model, created, {"role": "assistant"}))
    event, streamed = first, False
    try:
        while True:
            if isinstance(event, str):
                streamed = True
                await send(openai_wire.chunk(request_id, model, created, {"content": event}))
            else:
                answer = event
                if not streamed and answer.choices:
                    # A stored answer (a retried Idempotency-Key): its text in one piece.
                    text = {"content": answer.choices[0].message.content}
                    await send(openai_wire.chunk(request_id, answer.model, created, text))
                finish = answer.choices[0].finish_reason if answer.choices else "stop"
                await send(
                    openai_wire.chunk(request_id, answer.model, created, {}, finish or "stop")
                )
                if ask.include_usage:
                    await send(openai_wire.usage_chunk(request_id, created, answer))
                break
            event = await anext(events)
    except Exception as error:
        await send(_mapped(error).body)
        return response
    await send("[DONE]")
    return response


async def models(request: web.Request) -> web.Response:
    deps = request.app[_DEPS]
    try:
        await _key(request)
        providers = await deps.engine.broker.providers()
    except Unauthorized as error:
        return _error(openai_wire.unauthorized(str(error)))
    except Exception as error:
        return _error(_mapped(error))
    names = sorted({p.model for p in providers})
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "0g-compute"} for m in names]
    return _json(200, {"object": "list", "data": data})


def application(deps: Deps) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[_DEPS] = deps
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    return app


@dataclass
class HttpEndpoint:
    """The endpoint, listening."""

    runner: web.AppRunner
    port: int

    @classmethod
    async def started(cls, deps: Deps, host: str | None, port: int) -> HttpEndpoint:
        """Listening on `host` (every interface when None) and `port` (0: a free one)."""
        runner = web.AppRunner(application(deps), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if port == 0 else port
        return cls(runner, int(bound))

    async def stop(self) -> None:
        await self.runner.cleanup()
