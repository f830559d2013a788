"""A JSON-RPC proxy in front of the chain that loses the answers of chosen calls: it forwards
every request, but for the next `count` calls of a method it either holds the reply (the node
has acted; the caller times out first) or holds the request and delivers it late (the caller
times out before the node has seen it, and it arrives anyway)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import web

from zerog_db.cluster import free_port

Mode = Literal["hold_reply", "deliver_late"]


@dataclass
class _Rule:
    method: str
    mode: Mode
    seconds: float
    count: int


class RpcProxy:
    """Forwards 127.0.0.1:<port> to `upstream` (an http:// JSON-RPC URL)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[str] = []
        self._rules: list[_Rule] = []
        self._late: set[asyncio.Task[bytes]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def lose_answer(self, method: str, mode: Mode, seconds: float, count: int = 1) -> None:
        """The next `count` calls of `method` lose their answer for `seconds`."""
        self._rules.append(_Rule(method, mode, seconds, count))

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_post("/", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def delivered(self) -> None:
        """Wait (30 s at most) until every late request has reached the upstream."""
        if self._late:
            await asyncio.wait(set(self._late), timeout=30)

    async def stop(self) -> None:
        """Deliver what is still held back, then close."""
        await self.delivered()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _rule(self, method: str) -> _Rule | None:
        for rule in self._rules:
            if rule.method == method and rule.count > 0:
                rule.count -= 1
                return rule
        return None

    async def _forward(self, body: bytes, delay: float = 0.0) -> bytes:
        if delay:
            await asyncio.sleep(delay)
        assert self._session is not None
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as reply:
            return await reply.read()

    async def _serve(self, request: web.Request) -> web.Response:
        body = await request.read()
        method = str(json.loads(body).get("method", ""))
        self.seen.append(method)
        rule = self._rule(method)
        if rule is None:
            answer = await self._forward(body)
        elif rule.mode == "hold_reply":
            answer = await self._forward(body)
            await asyncio.sleep(rule.seconds)
        else:
            # Delivered late whether or not the caller is still there.
            late = asyncio.ensure_future(self._forward(body, rule.seconds))
            self._late.add(late)
            late.add_done_callback(self._late.discard)
            answer = await asyncio.shield(late)
        return web.Response(body=answer, content_type="application/json")
