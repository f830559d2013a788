"""A small JSON-RPC 2.0 server over aiohttp that answers the way jsonrpsee (the node's) does.

Positional params, batches, HTTP 200 for every JSON-RPC answer (errors included), -32700 for
unparsable bodies, -32601 for unknown methods, -32602 for params that do not deserialize.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from zerog_storage import RpcError
from zerog_storage._hex import hash_from_hex

log = logging.getLogger(__name__)

Handler = Callable[[list[Any]], Awaitable[Any]]
# The real node's HTTP server limit on a request body.
MAX_BODY_BYTES = 100 * 1024 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


def bad_params(detail: str) -> RpcError:
    """jsonrpsee's answer when params do not deserialize."""
    return RpcError(INVALID_PARAMS, "Invalid params", detail)


def param(params: list[Any], index: int, kind: type, *, optional: bool = False) -> Any:
    """Positional param `index` of type `kind` (bool is not an int); bad_params otherwise."""
    if index >= len(params) or params[index] is None:
        if optional:
            return None
        raise bad_params(f"missing value for required argument {index}")
    value = params[index]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise bad_params(f"invalid type: argument {index}, expected an unsigned integer")
    if kind is not int and not isinstance(value, kind):
        raise bad_params(f"invalid type: argument {index}, expected {kind.__name__}")
    return value


def hash_param(params: list[Any], index: int) -> bytes:
    """A 0x-hex 32-byte hash param."""
    value = param(params, index, str)
    try:
        return hash_from_hex(value)
    except ValueError as e:
        raise bad_params(f"argument {index}: {e}") from None


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class JsonRpcApp:
    """Dispatches JSON-RPC calls to handlers; `gate` may refuse a whole HTTP request first."""

    def __init__(
        self,
        methods: Mapping[str, Handler],
        gate: Callable[[], web.Response | None] | None = None,
    ) -> None:
        self.methods = dict(methods)
        self.gate = gate

    def application(self) -> web.Application:
        """An aiohttp app answering POST / (and any path) with JSON-RPC."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """One HTTP request: a single call or a batch."""
        if self.gate is not None:
            refused = self.gate()
            if refused is not None:
                return refused
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response(_error(None, PARSE_ERROR, "Parse error"))
        if isinstance(body, list):
            if not body:
                return web.json_response(_error(None, INVALID_REQUEST, "Invalid request"))
            return web.json_response([await self._one(call) for call in body])
        return web.json_response(await self._one(body))

    async def _one(self, call: Any) -> dict[str, Any]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _error(None, INVALID_REQUEST, "Invalid request")
        request_id = call.get("id")
        handler = self.methods.get(call["method"])
        if handler is None:
            return _error(request_id, METHOD_NOT_FOUND, "Method not found")
        params = call.get("params")
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(request_id, INVALID_PARAMS, "Invalid params", "expected an array")
        try:
            result = await handler(params)
        except RpcError as e:
            return {"jsonrpc": "2.0", "id": request_id, "error": e.to_json()}
        except Exception:
            log.exception("%s failed", call["method"])
            return _error(request_id, INTERNAL_ERROR, "Internal error")
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
