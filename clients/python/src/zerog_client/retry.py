"""One unary call, typed errors out, and the waits the service asks for honoured: a call that
comes back with RetryInfo (REQUEST_IN_PROGRESS, a dependency down, a rate limit) is sent again,
unchanged (same request_id), after that delay, while attempts and the deadline allow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from zerog_client.errors import ZerogError, from_rpc_error

R = TypeVar("R")


def call(
    method: Callable[..., R],
    request: Any,
    *,
    timeout: float | None = 30.0,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> R:
    """`method(request)` (a sync stub's unary method); ZerogError when it fails for good.
    `timeout` bounds every attempt and wait together."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for attempt in range(1, attempts + 1):
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            return method(request, timeout=left, **kwargs)
        except grpc.RpcError as error:
            typed = from_rpc_error(error)
            delay = _wait(typed, attempt, attempts, deadline)
            if delay is None:
                raise typed from error
        sleep(delay)
    raise AssertionError("unreachable")


async def acall(
    method: Callable[..., Awaitable[R]],
    request: Any,
    *,
    # The gRPC deadline, which the server sees too; asyncio.timeout could not send it.
    timeout: float | None = 30.0,  # noqa: ASYNC109
    attempts: int = 5,
    **kwargs: Any,
) -> R:
    """call() for a grpc.aio stub's unary method."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for attempt in range(1, attempts + 1):
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            return await method(request, timeout=left, **kwargs)
        except grpc.RpcError as error:
            typed = from_rpc_error(error)
            delay = _wait(typed, attempt, attempts, deadline)
            if delay is None:
                raise typed from error
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _wait(error: ZerogError, attempt: int, attempts: int, deadline: float | None) -> float | None:
    """How long to wait before the next attempt, or None to give up with `error`."""
    delay = error.retry_delay
    if delay is None or attempt >= attempts:
        return None
    if deadline is not None and time.monotonic() + delay >= deadline:
        return None
    return delay
