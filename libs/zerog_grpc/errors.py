"""The error model: google.rpc.Status with typed details, for servers and for clients reading them.

Servers call `abort(context, code, message, *details)`; details are built with the helpers below.
Clients call `unpack_detail(error, DetailType)` on a `grpc.aio.AioRpcError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "zerog"
_DETAILS_KEY = "grpc-status-details-bin"

M = TypeVar("M", bound=Message)
Context = grpc.aio.ServicerContext[Any, Any]


async def abort(
    context: Context, code: grpc.StatusCode, message: str, *details: Message
) -> NoReturn:
    """End the call with `code`, `message` and typed details in the status trailer."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    await context.abort(code, message, rpc_status.to_status(status).trailing_metadata)


def bad_request(problems: Mapping[str, str]) -> error_details_pb2.BadRequest:
    """A BadRequest naming every bad field at once."""
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
            for field, description in problems.items()
        ]
    )


def error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    """An ErrorInfo with an UPPER_SNAKE reason in the zerog domain."""
    return error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)


def quota_failure(subject: str, description: str) -> error_details_pb2.QuotaFailure:
    """A QuotaFailure with one violation."""
    return error_details_pb2.QuotaFailure(
        violations=[
            error_details_pb2.QuotaFailure.Violation(subject=subject, description=description)
        ]
    )


def precondition_failure(
    kind: str, subject: str, description: str
) -> error_details_pb2.PreconditionFailure:
    """A PreconditionFailure with one violation (kind is UPPER_SNAKE, e.g. INSUFFICIENT_BALANCE)."""
    return error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=kind, subject=subject, description=description
            )
        ]
    )


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    """A RetryInfo telling the caller how long to wait before trying again."""
    whole = int(seconds)
    return error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status carried by a failed call, if the server sent one."""
    for key, value in error.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def unpack_detail(error: grpc.aio.AioRpcError, detail_type: type[M]) -> M | None:
    """The first detail of `detail_type` in a failed call's status, or None."""
    status = status_of(error)
    if status is None:
        return None
    for any_detail in status.details:
        detail = detail_type()
        # Unpack checks the type URL and returns False for details of another type.
        if any_detail.Unpack(detail):
            return detail
    return None
