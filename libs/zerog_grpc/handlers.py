"""Wrap a method handler's behaviour, whatever its streaming shape: the seam of our interceptors."""

from __future__ import annotations

import abc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeAlias

import grpc
import grpc.aio

Context = grpc.aio.ServicerContext[Any, Any]
# Generic only in the stubs; strings keep the subscripts out of the runtime.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]
UnaryWrapper = Callable[[str, Any, Context, Callable[..., Awaitable[Any]]], Awaitable[Any]]
StreamWrapper = Callable[[str, Any, Context, Callable[..., AsyncIterator[Any]]], AsyncIterator[Any]]

_UNARY_RESPONSE = ("unary_unary", "stream_unary")
_STREAM_RESPONSE = ("unary_stream", "stream_stream")


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that runs its `around` context about every call it wraps.

    Subclasses say what to do before and after a call (or when it raises) once, in `around`;
    this class applies it to unary and streaming responses alike.
    """

    def wraps(self, method: str, handler: Handler) -> bool:
        """Whether calls of `method` go through `around`: all of them unless a subclass says."""
        return True

    @abc.abstractmethod
    def around(
        self, method: str, request: Any, context: Context, *, streaming: bool
    ) -> AbstractAsyncContextManager[None]:
        """The context one call of `method` runs in (`streaming`: the response is a stream)."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not self.wraps(method, handler):
            return handler
        return wrap_handler(handler, method, self._unary, self._stream)

    async def _unary(
        self, method: str, request: Any, context: Context, behavior: Callable[..., Awaitable[Any]]
    ) -> Any:
        async with self.around(method, request, context, streaming=False):
            return await behavior(request, context)
        # `around` swallowed what the behaviour raised: the call ended without a response.
        return None

    async def _stream(
        self,
        method: str,
        request: Any,
        context: Context,
        behavior: Callable[..., AsyncIterator[Any]],
    ) -> AsyncIterator[Any]:
        async with self.around(method, request, context, streaming=True):
            async for response in behavior(request, context):
                yield response


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
    kind = next(k for k in (*_UNARY_RESPONSE, *_STREAM_RESPONSE) if getattr(handler, k) is not None)
    behavior = getattr(handler, kind)
    wrapped: Callable[[Any, Context], Any]
    if kind in _STREAM_RESPONSE:
        streaming = _as_async_generator(behavior)

        def wrapped_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            return stream_response(method, request, context, streaming)

        wrapped = wrapped_stream
    else:

        async def wrapped_unary(request: Any, context: Context) -> Any:
            return await unary_response(method, request, context, behavior)

        wrapped = wrapped_unary
    return handler._replace(**{kind: wrapped})  # type: ignore[attr-defined, no-any-return]  # a namedtuple at runtime


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
