"""A caller's loop for a request whose first attempt is still running: every service answers
ABORTED REQUEST_IN_PROGRESS with a RetryInfo (zerog_db.Once), and the caller retries the same
request after that delay until it gets the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2

from zerog_grpc import unpack_detail

T = TypeVar("T")


def in_progress(error: grpc.aio.AioRpcError) -> float | None:
    """The delay the service asks for if `error` says the request is still running, else None."""
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    retry = unpack_detail(error, error_details_pb2.RetryInfo)
    if (
        error.code() != grpc.StatusCode.ABORTED
        or info is None
        or info.reason != "REQUEST_IN_PROGRESS"
        or retry is None
    ):
        return None
    return retry.retry_delay.ToTimedelta().total_seconds()


async def once_done(call: Callable[[], Awaitable[T]], seconds: float = 60.0) -> T:
    """`call()`, retried while its request is in progress (for at most `seconds`)."""
    answer, _ = await counting_refusals(call, seconds)
    return answer


async def counting_refusals(
    call: Callable[[], Awaitable[T]], seconds: float = 60.0
) -> tuple[T, int]:
    """`call()`'s answer, retried as each REQUEST_IN_PROGRESS says; and how many refusals it
    took. Any other error is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    refusals = 0
    while True:
        try:
            return await call(), refusals
        except grpc.aio.AioRpcError as error:
            delay = in_progress(error)
            if delay is None or loop.time() + delay > deadline:
                raise
            refusals += 1
            await asyncio.sleep(delay)
