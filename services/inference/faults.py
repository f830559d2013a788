"""One place that turns domain errors and dependency failures into gRPC statuses."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from services.inference import errors as e
from services.inference.portfolio import PortfolioInputError
from zerog_grpc import abort, bad_request, error_info, retry_info, status_of

Context = grpc.aio.ServicerContext[Any, Any]


async def fail(context: Context, error: BaseException) -> NoReturn:
    """Abort the call with the status `error` deserves (re-raises what it does not know)."""
    if isinstance(error, grpc.aio.AioRpcError):
        await _dependency(context, error)
    if isinstance(error, PortfolioInputError):
        await abort(
            context, grpc.StatusCode.INVALID_ARGUMENT, str(error), bad_request(error.problems)
        )
    if isinstance(error, e.NoProvider):
        await abort(
            context,
            grpc.StatusCode.NOT_FOUND,
            str(error),
            error_info("NO_PROVIDER", model=error.model),
        )
    if isinstance(error, e.ProvidersFailed):
        await abort(
            context,
            grpc.StatusCode.UNAVAILABLE,
            str(error),
            error_info("PROVIDERS_FAILED", attempts=str(error.attempts)),
            retry_info(5.0),
        )
    if isinstance(error, e.ProviderRejected):
        await abort(
            context,
            grpc.StatusCode.FAILED_PRECONDITION,
            str(error),
            error_info(
                "PROVIDER_REJECTED",
                provider=error.provider,
                status=str(error.status),
                attempts=str(error.attempts),
            ),
        )
    if isinstance(error, e.DeadlineReached):
        await abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, str(error))
    if isinstance(error, e.StreamInterrupted):
        await abort(
            context, grpc.StatusCode.UNAVAILABLE, str(error), error_info("STREAM_INTERRUPTED")
        )
    if isinstance(error, e.MalformedModelOutput):
        await abort(
            context,
            grpc.StatusCode.FAILED_PRECONDITION,
            str(error),
            error_info("MALFORMED_MODEL_OUTPUT"),
        )
    if isinstance(error, e.SessionNotFound):
        await abort(
            context,
            grpc.StatusCode.NOT_FOUND,
            str(error),
            error_info("SESSION_NOT_FOUND", session_id=error.session_id),
        )
    if isinstance(error, e.SessionArchived):
        await abort(
            context,
            grpc.StatusCode.FAILED_PRECONDITION,
            str(error),
            error_info("SESSION_ARCHIVED", session_id=error.session_id),
        )
    if isinstance(error, e.NotSessionOwner):
        await abort(
            context, grpc.StatusCode.PERMISSION_DENIED, str(error), error_info("NOT_SESSION_OWNER")
        )
    if isinstance(error, e.RequestIdReused):
        await abort(
            context,
            grpc.StatusCode.ALREADY_EXISTS,
            str(error),
            error_info("REQUEST_ID_REUSED", request_id=error.request_id),
        )
    if isinstance(error, e.RequestInProgress):
        await abort(
            context,
            grpc.StatusCode.ABORTED,
            str(error),
            error_info("REQUEST_IN_PROGRESS", request_id=error.request_id),
            retry_info(error.retry_after),
        )
    if isinstance(error, e.ResponseNotVerified):
        await abort(
            context,
            grpc.StatusCode.FAILED_PRECONDITION,
            str(error),
            error_info(
                "RESPONSE_NOT_VERIFIED",
                provider=error.provider,
                chat_id=error.chat_id,
                why=error.reason,
            ),
        )
    if isinstance(error, e.StorageUnavailable):
        await abort(
            context, grpc.StatusCode.UNAVAILABLE, str(error), error_info("STORAGE_UNAVAILABLE")
        )
    raise error


async def _dependency(context: Context, error: grpc.aio.AioRpcError) -> NoReturn:
    code = error.code()
    status = status_of(error)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and status is not None:
        # The quota service's verdict, with its QuotaFailure, goes to our caller unchanged.
        details = []
        for any_detail in status.details:
            for kind in (
                error_details_pb2.QuotaFailure,
                error_details_pb2.ErrorInfo,
                error_details_pb2.RetryInfo,
            ):
                detail = kind()
                if any_detail.Unpack(detail):
                    details.append(detail)
        await abort(context, code, error.details() or "budget exhausted", *details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        await abort(context, code, "deadline exceeded")
    await abort(
        context,
        grpc.StatusCode.UNAVAILABLE,
        f"a dependency failed: {code.name}",
        error_info("DEPENDENCY_FAILED", code=code.name),
        retry_info(2.0),
    )
