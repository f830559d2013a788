"""Turns the errors a handler raises into statuses, in one decorator."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc.aio

from services.storage.errors import StorageError
from services.storage.faults import Context, fail, relay
from zerog_storage import StorageProtocolError

R = TypeVar("R")
Handler = Callable[[Any, Any, Context], Awaitable[R]]


def guarded(handler: Handler[R]) -> Handler[R]:
    """Domain and client errors -> their statuses; quota/broker refusals relayed."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: Context) -> R:
        try:
            return await handler(self, request, context)
        except (StorageError, StorageProtocolError) as error:
            await fail(context, error)
        except grpc.aio.AioRpcError as error:
            await relay(context, error, _peer_service(error))

    return wrapper


def _peer_service(error: grpc.aio.AioRpcError) -> str:
    # The stubs we call are the quota and broker services; their statuses name no service.
    return "dependency"
