"""A real local webhook endpoint (aiohttp) that records every request and can fail on purpose."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One request as the endpoint saw it."""

    path: str
    idempotency_key: str
    body: dict[str, Any]
    status: int


@dataclass
class WebhookReceiver:
    """Answers 200, except `failures[path]` more times with 500 first."""

    requests: list[Received] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        status = 200
        if self.failures[request.path] > 0:
            self.failures[request.path] -= 1
            status = 500
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append(Received(request.path, key, body, status))
        return web.Response(status=status)

    def accepted(self) -> list[Received]:
        """Requests answered with 200."""
        return [r for r in self.requests if r.status == 200]
