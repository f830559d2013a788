"""The provider's HTTP API (as the real provider serves it) and its /admin knobs."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any

from aiohttp import web

from devnet.provider.auth import Refusal
from devnet.provider.knobs import KnobError
from devnet.provider.proxy import chat_completions, error_response
from devnet.provider.runtime import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OnRefuse = Callable[[float], Coroutine[Any, Any, None]]


@web.middleware
async def outage_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outage knob: 503 or a dropped connection on every /v1 call (never on /admin)."""
    rt: Runtime = request.app["runtime"]
    outage = rt.knobs.outage
    if request.path.startswith("/v1") and outage != "none":
        if outage == "drop" and request.transport is not None:
            request.transport.abort()
        return error_response(503, HTTPStatus.SERVICE_UNAVAILABLE.phrase)
    return await handler(request)


async def models(request: web.Request) -> web.Response:
    rt: Runtime = request.app["runtime"]
    entry = {"id": rt.model, "object": "model", "created": 0, "owned_by": rt.provider}
    return web.json_response({"object": "list", "data": [entry]})


async def quote(request: web.Request) -> web.Response:
    """A devnet stand-in for the TEE attestation report: names the signing address."""
    rt: Runtime = request.app["runtime"]
    report = {"signing_address": rt.tee.address, "nvidia_payload": "", "devnet": True}
    return web.Response(text=json.dumps(report), content_type="application/json")


async def unsettled_fee(request: web.Request) -> web.Response:
    """GET /v1/user/{user}/unsettledfee with the caller's session token; others' is 403."""
    rt: Runtime = request.app["runtime"]
    try:
        user = await rt.auth.user(request.headers.get("Authorization"))
    except Refusal as r:
        return error_response(r.status, r.message)
    if request.match_info["user"].lower() != user.lower():
        return error_response(403, "cannot query another user's unsettled fee")
    return web.json_response({"userAddress": user, "unsettledFee": str(rt.ledger.unsettled(user))})


async def signature(request: web.Request) -> web.Response:
    rt: Runtime = request.app["runtime"]
    found = rt.signatures.get(request.match_info["chat_key"])
    if found is None:
        return error_response(404, "chat signature not found")
    text, sig = found
    return web.json_response(
        {"text": text, "signature": sig, "signing_address": rt.tee.address, "signing_algo": "ecdsa"}
    )


async def get_knobs(request: web.Request) -> web.Response:
    rt: Runtime = request.app["runtime"]
    return web.json_response(rt.status())


async def post_knobs(request: web.Request) -> web.Response:
    """Changes knobs at run time: JSON object of knob -> value; 400 names a bad knob."""
    rt: Runtime = request.app["runtime"]
    try:
        changes: Any = await request.json()
        if not isinstance(changes, dict):
            raise KnobError("body must be a JSON object of knob -> value")
        knobs = rt.knobs.updated(changes)
    except (KnobError, ValueError) as e:
        return error_response(400, str(e))
    await rt.apply_knobs(knobs)
    if knobs.outage == "refuse":
        on_refuse: OnRefuse = request.app["on_refuse"]
        # Answer first, then stop listening: the caller learns the change was applied.
        request.app["refuse_task"] = request.loop.create_task(on_refuse(knobs.outage_seconds))
    return web.json_response(rt.status())


async def settle(request: web.Request) -> web.Response:
    """Settles every unsettled fee now; returns each user's on-chain outcome."""
    rt: Runtime = request.app["runtime"]
    started = time.monotonic()
    outcomes = await rt.settler.settle()
    return web.json_response(
        {"outcomes": [o.to_json() for o in outcomes], "seconds": time.monotonic() - started}
    )


def build_app(runtime: Runtime, on_refuse: OnRefuse) -> web.Application:
    """The aiohttp application; `on_refuse(seconds)` stops and restarts the listener."""
    app = web.Application(middlewares=[outage_middleware], client_max_size=16 * 1024 * 1024)
    app["runtime"] = runtime
    app["on_refuse"] = on_refuse
    app.router.add_post("/v1/proxy/chat/completions", chat_completions)
    app.router.add_get("/v1/proxy/signature/{chat_key}", signature)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/proxy/models", models)
    app.router.add_get("/v1/quote", quote)
    app.router.add_get("/v1/user/{user}/unsettledfee", unsettled_fee)
    app.router.add_get("/admin/knobs", get_knobs)
    app.router.add_post("/admin/knobs", post_knobs)
    app.router.add_post("/admin/settle", settle)
    return app
