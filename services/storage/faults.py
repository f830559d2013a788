"""The one place where storage's domain and client errors become statuses with typed details."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import grpc.aio
from google.protobuf.message import Message

from services.storage.errors import (
    AccessDenied,
    ChecksumMismatch,
    InvalidRequest,
    NamespaceExists,
    NamespaceNotEmpty,
    NamespaceQuotaExceeded,
    ObjectNotFound,
    RequestIdReused,
    StorageError,
)
from zerog_grpc import (
    abort,
    bad_request,
    error_info,
    precondition_failure,
    quota_failure,
    retry_info,
)
from zerog_storage import (
    DataLost,
    NodesUnavailable,
    NotEnoughReplicas,
    StorageProtocolError,
    UploadIncomplete,
)

Context = grpc.aio.ServicerContext[Any, Any]
# Errors a retry with the same request_id can get past.
RETRY_SECONDS = 2.0


async def fail(context: Context, error: StorageError | StorageProtocolError) -> NoReturn:
    """Abort the call with the status and details `error` stands for."""
    code, details = grpc.StatusCode.INTERNAL, list[Message]()
    message = str(error)
    match error:
        case InvalidRequest():
            code, details = grpc.StatusCode.INVALID_ARGUMENT, [bad_request(error.problems)]
        case AccessDenied():
            code = grpc.StatusCode.PERMISSION_DENIED
            details = [
                error_info(
                    "NAMESPACE_ACCESS_DENIED", namespace=error.namespace, needed=error.needed
                )
            ]
        case NamespaceExists():
            code = grpc.StatusCode.ALREADY_EXISTS
            details = [error_info("NAMESPACE_EXISTS", namespace=error.name)]
        case NamespaceNotEmpty():
            code = grpc.StatusCode.FAILED_PRECONDITION
            details = [
                precondition_failure("NAMESPACE_NOT_EMPTY", f"namespace:{error.name}", message),
                error_info("NAMESPACE_NOT_EMPTY", live_objects=str(error.count)),
            ]
        case ObjectNotFound():
            code = grpc.StatusCode.NOT_FOUND
            details = [error_info("OBJECT_NOT_FOUND", namespace=error.namespace, name=error.name)]
        case RequestIdReused():
            code = grpc.StatusCode.ALREADY_EXISTS
            details = [error_info("REQUEST_ID_REUSED", request_id=error.request_id)]
        case NamespaceQuotaExceeded():
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            details = [
                quota_failure(f"namespace:{error.namespace}", message),
                error_info(
                    "NAMESPACE_QUOTA_EXCEEDED", limit=str(error.limit), used=str(error.used)
                ),
            ]
        case NotEnoughReplicas():
            code = grpc.StatusCode.FAILED_PRECONDITION
            details = [
                precondition_failure("NOT_ENOUGH_REPLICAS", "storage-nodes", message),
                error_info(
                    "NOT_ENOUGH_REPLICAS",
                    wanted=str(error.wanted),
                    available=str(error.available),
                ),
            ]
        case DataLost() | ChecksumMismatch():
            code = grpc.StatusCode.DATA_LOSS
            details = [error_info("OBJECT_DATA_LOST")]
        case NodesUnavailable() | UploadIncomplete():
            code = grpc.StatusCode.UNAVAILABLE
            details = [retry_info(RETRY_SECONDS), error_info("STORAGE_NODES_UNAVAILABLE")]
        case StorageProtocolError():
            # A node refused or garbled something: transient from the caller's side.
            code = grpc.StatusCode.UNAVAILABLE
            details = [retry_info(RETRY_SECONDS), error_info("STORAGE_NODE_ERROR")]
    if code is grpc.StatusCode.INTERNAL:
        message = "internal error"
    await abort(context, code, message, *details)


async def relay(context: Context, error: grpc.aio.AioRpcError, service: str) -> NoReturn:
    """Pass on a refusal from quota or the broker; their outages become UNAVAILABLE."""
    passed = {
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
    code = error.code()
    if code in passed:
        trailers = error.trailing_metadata() or ()
        status_details = tuple((k, v) for k, v in trailers if k == "grpc-status-details-bin")
        # The status detail must carry the same code and message as the status itself.
        await context.abort(code, error.details() or "", status_details)
    await abort(
        context,
        grpc.StatusCode.UNAVAILABLE,
        f"{service} unavailable",
        retry_info(RETRY_SECONDS),
        error_info("DEPENDENCY_UNAVAILABLE", service=service),
    )
