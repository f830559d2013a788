"""One error map per service: exception class -> gRPC status and typed details.

Handlers raise domain errors and never abort by hand; the `MapErrors` interceptor looks the
exception's class up in the service's map (walking its MRO, as Starlette's exception handlers
do) and ends the call with the status the map gives. What no entry names becomes INTERNAL
"internal error": the traceback goes to our logs with the trace id, never to the caller.

    ERRORS = {
        **KERNEL_ERRORS,
        AccountNotFound: status(NOT_FOUND, "ACCOUNT_NOT_FOUND"),
        TopUpAboveCap: lambda e: Failure(FAILED_PRECONDITION, str(e), (...,)),
    }
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import ErrorInfo

from zerog_db import CONNECTION_ERRORS, RequestIdReused, RequestInProgress
from zerog_grpc.errors import abort, bad_request, error_info, retry_info
from zerog_grpc.handlers import Context, WrappingInterceptor
from zerog_grpc.validation import InvalidRequest

log = logging.getLogger(__name__)
Code = grpc.StatusCode
T = TypeVar("T")
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Failure:
    """How a call ends: a code, a message for the caller and typed google.rpc details."""

    code: grpc.StatusCode
    message: str
    details: tuple[Message, ...] = ()


# What a map entry does with the exception it matched.
Rule = Callable[[Any], Failure]
ErrorMap = Mapping[type[BaseException], Rule]


def status(code: grpc.StatusCode, reason: str | None = None, *, retry: float | None = None) -> Rule:
    """A rule for the common case: `code`, the exception's text, ErrorInfo(reason), RetryInfo."""

    def rule(error: BaseException) -> Failure:
        details: list[Message] = [] if reason is None else [error_info(reason)]
        if retry is not None:
            details.append(retry_info(retry))
        return Failure(code, str(error), tuple(details))

    return rule


def dependency_unavailable(error: BaseException) -> Failure:
    """The rule for a dependency that is down: UNAVAILABLE, so callers retry."""
    log.warning("dependency unavailable", extra={"error": type(error).__name__})
    return Failure(
        Code.UNAVAILABLE,
        "a dependency is unavailable, retry",
        (error_info("DEPENDENCY_UNAVAILABLE"),),
    )


def _reused(error: RequestIdReused) -> Failure:
    return Failure(
        Code.ALREADY_EXISTS,
        str(error),
        (error_info("REQUEST_ID_REUSED", request_id=error.request_id),),
    )


def _in_progress(error: RequestInProgress) -> Failure:
    return Failure(
        Code.ABORTED,
        str(error),
        (
            error_info("REQUEST_IN_PROGRESS", request_id=error.request_id),
            retry_info(error.retry_after),
        ),
    )


# What every service maps the same way; a service's map starts with `**KERNEL_ERRORS`.
KERNEL_ERRORS: dict[type[BaseException], Rule] = {
    InvalidRequest: lambda e: Failure(Code.INVALID_ARGUMENT, str(e), (bad_request(e.problems),)),
    RequestIdReused: _reused,
    RequestInProgress: _in_progress,
    **dict.fromkeys(CONNECTION_ERRORS, dependency_unavailable),
}


def failure_for(error: BaseException, errors: ErrorMap) -> Failure | None:
    """The Failure the most specific entry of `errors` gives for `error`, or None."""
    for kind in type(error).__mro__:
        rule = errors.get(kind)
        if rule is not None:
            return rule(error)
    return None


async def each_item(
    items: Iterable[T],
    run: Callable[[T], Awaitable[Message]],
    errors: ErrorMap,
    result: Callable[..., M],
    answered: str,
) -> list[M]:
    """A batch RPC's results: each item run as its single RPC would run it, one after another;
    `result(<answered>=answer)`, or `result(error={code, reason, message})` as that RPC would
    refuse it. An error that is not the item's own (a dependency down, a bug) ends the whole
    call, so the caller sends the batch again and what was done replays by its id."""
    results = []
    for item in items:
        try:
            results.append(result(**{answered: await run(item)}))
        except Exception as error:
            found = failure_for(error, errors)
            if found is None or found.code == Code.UNAVAILABLE:
                raise
            reason = next((d.reason for d in found.details if isinstance(d, ErrorInfo)), "")
            refusal = {"code": found.code.name, "reason": reason, "message": found.message}
            results.append(result(error=refusal))
    return results


class MapErrors(WrappingInterceptor):
    """Ends every call that raised with the status its service's error map gives, or INTERNAL."""

    def __init__(self, errors: ErrorMap) -> None:
        self._errors = errors

    @asynccontextmanager
    async def around(
        self, method: str, request: Any, context: Context, *, streaming: bool
    ) -> AsyncIterator[None]:
        try:
            yield
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await self._fail(method, context, error)

    async def _fail(self, method: str, context: Context, error: Exception) -> None:
        try:
            failure = failure_for(error, self._errors)
        except Exception:
            log.exception("error map rule failed", extra={"method": method})
            failure = None
        if failure is None:
            log.exception("unexpected error", extra={"method": method}, exc_info=error)
            failure = Failure(Code.INTERNAL, "internal error", (error_info("INTERNAL"),))
        await abort(context, failure.code, failure.message, *failure.details)
