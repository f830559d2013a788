"""Ethereum JSON-RPC over one keep-alive HTTP connection pool, in batches; the chain head.

web3's async provider cost the request path milliseconds per read (middleware, formatters,
a connection and a resolver thread per call); a batch of raw calls costs the node ~0.2 ms.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp

Call = tuple[str, list[Any]]
"""A JSON-RPC method and its params."""


class RpcError(Exception):
    """A JSON-RPC error answer; `data` is the revert payload of a failed eth_call, if any."""

    def __init__(self, code: int, message: str, data: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.data = data


class JsonRpc:
    """Batches of JSON-RPC calls to one node; each answer is a result or an RpcError."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def batch(self, calls: list[Call]) -> list[Any]:
        if self._session is None:  # made in the running loop, on first use
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        async with self._session.post(self._url, json=body) as response:
            response.raise_for_status()
            answers = await response.json(content_type=None)
        by_id = {a["id"]: a for a in answers}
        return [_result(by_id[i]) for i in ids]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _result(answer: dict[str, Any]) -> Any:
    error = answer.get("error")
    if error is None:
        return answer["result"]
    data = error.get("data")
    return RpcError(int(error.get("code", 0)), str(error.get("message", "")), data)


class ChainHead:
    """The latest block number, read once for all the requests that arrive before it is sent.

    A caller never gets a number read before it asked, so a caller sees every block mined
    before its request: reads keyed by that number are as fresh as reading the chain anew.
    """

    def __init__(self, rpc: JsonRpc) -> None:
        self._rpc = rpc
        self._next: asyncio.Task[int] | None = None

    async def number(self) -> int:
        if self._next is None:
            self._next = asyncio.create_task(self._read())
        # shield: one caller giving up must not cancel the read the others wait for
        return await asyncio.shield(self._next)

    async def _read(self) -> int:
        self._next = None  # sent now: later arrivals need a read of their own
        (answer,) = await self._rpc.batch([("eth_blockNumber", [])])
        if isinstance(answer, RpcError):
            raise answer
        return int(answer, 16)
