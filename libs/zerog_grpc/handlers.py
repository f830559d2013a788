"""Wrap a method handler's behaviour, whatever its streaming shape: the seam of our interceptors."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
import grpc.aio

Context = grpc.aio.ServicerContext[Any, Any]
# Generic only in the stubs; strings keep the subscripts out of the runtime.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]
UnaryWrapper = Callable[[str, Any, Context, Callable[..., Awaitable[Any]]], Awaitable[Any]]
StreamWrapper = Callable[[str, Any, Context, Callable[..., AsyncIterator[Any]]], AsyncIterator[Any]]


def wrap_handler(
    handler: Handler,
    method: str,
    unary_response: UnaryWrapper,
    stream_response: StreamWrapper,
) -> Handler:
    """A copy of `handler` whose behaviour runs through the given wrappers.

    `unary_response(method, request_or_iterator, context, behavior)` wraps unary-response calls;
    `stream_response(...)` is an async generator wrapping streaming-response calls.
    """
    if handler.unary_unary is not None:
        behavior = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            return await unary_response(method, request, context, behavior)

        return handler._replace(  # type: ignore[attr-defined, no-any-return]  # a namedtuple at runtime
            unary_unary=unary_unary
        )
    if handler.stream_unary is not None:
        behavior = handler.stream_unary

        async def stream_unary(requests: Any, context: Context) -> Any:
            return await unary_response(method, requests, context, behavior)

        return handler._replace(  # type: ignore[attr-defined, no-any-return]  # a namedtuple at runtime
            stream_unary=stream_unary
        )
    if handler.unary_stream is not None:
        streaming = _as_async_generator(handler.unary_stream)

        def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            return stream_response(method, request, context, streaming)

        return handler._replace(  # type: ignore[attr-defined, no-any-return]  # a namedtuple at runtime
            unary_stream=unary_stream
        )
    assert handler.stream_stream is not None
    streaming = _as_async_generator(handler.stream_stream)

    def stream_stream(requests: Any, context: Context) -> AsyncIterator[Any]:
        return stream_response(method, requests, context, streaming)

    return handler._replace(  # type: ignore[attr-defined, no-any-return]
        stream_stream=stream_stream
    )


def _as_async_generator(behavior: Any) -> Callable[..., AsyncIterator[Any]]:
    # A servicer may stream by yielding, by returning an async iterator, or by calling
    # context.write() and returning; interceptors see all of them as an async iterator.
    if inspect.isasyncgenfunction(behavior):
        return behavior  # type: ignore[no-any-return]

    async def normalized(request: Any, context: Context) -> AsyncIterator[Any]:
        result = behavior(request, context)
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            async for response in result:
                yield response

    return normalized
