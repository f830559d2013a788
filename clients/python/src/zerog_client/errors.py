"""Failed calls as typed exceptions, with the google.rpc details decoded.

ZerogError                      .code .message .details .reason .metadata .retry_delay
 ├── InvalidArgument            .field_violations (BadRequest)
 ├── NotFound
 ├── AlreadyExists
 │    └── RequestIdReused       the request_id came with another request
 ├── PermissionDenied
 ├── Unauthenticated
 ├── ResourceExhausted          .quota_violations (QuotaFailure)
 ├── FailedPrecondition         .precondition_violations (PreconditionFailure)
 ├── Aborted
 │    └── RequestInProgress     the same request_id is still running: retry after .retry_delay
 ├── Unavailable
 ├── DeadlineExceeded
 ├── DataLoss
 └── Internal                   INTERNAL, UNKNOWN and any other code
"""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from google.protobuf import symbol_database
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

M = TypeVar("M", bound=Message)
_DETAILS_KEY = "grpc-status-details-bin"


class ZerogError(Exception):
    """A call that failed: its status code, message and typed google.rpc details."""

    def __init__(self, code: grpc.StatusCode, message: str, details: tuple[Message, ...]) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = details

    def detail(self, kind: type[M]) -> M | None:
        """The first detail of type `kind`, or None."""
        return next((d for d in self.details if isinstance(d, kind)), None)

    @property
    def reason(self) -> str:
        """ErrorInfo's reason (UPPER_SNAKE, e.g. PROVIDER_NOT_ACKNOWLEDGED), or ""."""
        info = self.detail(error_details_pb2.ErrorInfo)
        return info.reason if info is not None else ""

    @property
    def metadata(self) -> dict[str, str]:
        """ErrorInfo's metadata (which provider, how many tokens left...)."""
        info = self.detail(error_details_pb2.ErrorInfo)
        return dict(info.metadata) if info is not None else {}

    @property
    def retry_delay(self) -> float | None:
        """Seconds the service asks to wait before trying again (RetryInfo); None: do not retry."""
        info = self.detail(error_details_pb2.RetryInfo)
        if info is None:
            return None
        return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


class InvalidArgument(ZerogError):
    """The request is malformed; every bad field is named at once."""

    @property
    def field_violations(self) -> dict[str, str]:
        found = self.detail(error_details_pb2.BadRequest)
        return {v.field: v.description for v in found.field_violations} if found else {}


class NotFound(ZerogError):
    """Something the request names does not exist."""


class AlreadyExists(ZerogError):
    """Something the request would create exists already."""


class RequestIdReused(AlreadyExists):
    """The request_id was used before for a different request."""


class PermissionDenied(ZerogError):
    """The caller may not call this method or touch this resource."""


class Unauthenticated(ZerogError):
    """No token, or one that is expired, forged or for another service."""


class ResourceExhausted(ZerogError):
    """A budget, quota or rate limit is used up."""

    @property
    def quota_violations(self) -> list[error_details_pb2.QuotaFailure.Violation]:
        found = self.detail(error_details_pb2.QuotaFailure)
        return list(found.violations) if found else []


class FailedPrecondition(ZerogError):
    """The system is not in the state the call needs; retrying unchanged will not help."""

    @property
    def precondition_violations(self) -> list[error_details_pb2.PreconditionFailure.Violation]:
        found = self.detail(error_details_pb2.PreconditionFailure)
        return list(found.violations) if found else []


class Aborted(ZerogError):
    """A conflict; RetryInfo says when to try again."""


class RequestInProgress(Aborted):
    """A call with the same request_id is still running; retried later it gets its answer."""


class Unavailable(ZerogError):
    """The service or a dependency is down for now; retry (after RetryInfo's delay)."""


class DeadlineExceeded(ZerogError):
    """The deadline passed first."""


class DataLoss(ZerogError):
    """Stored data cannot be read back intact."""


class Internal(ZerogError):
    """A fault on the service's side (INTERNAL, UNKNOWN or another code)."""


_BY_CODE: dict[grpc.StatusCode, type[ZerogError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.DATA_LOSS: DataLoss,
}
_BY_REASON: dict[str, type[ZerogError]] = {
    "REQUEST_IN_PROGRESS": RequestInProgress,
    "REQUEST_ID_REUSED": RequestIdReused,
}


def from_rpc_error(error: grpc.RpcError) -> ZerogError:
    """The typed exception for a failed call (sync or asyncio), details decoded."""
    call: Any = error  # RpcErrors raised by calls are also grpc.Call: code(), details()...
    code: grpc.StatusCode = call.code()
    details = _details(call.trailing_metadata() or ())
    made = _BY_CODE.get(code, Internal)(code, call.details() or "", details)
    special = _BY_REASON.get(made.reason)
    if special is not None and issubclass(special, type(made)):
        return special(code, made.message, details)
    return made


def _details(trailers: Any) -> tuple[Message, ...]:
    for key, value in trailers:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            return tuple(d for d in map(_unpack, status.details) if d is not None)
    return ()


def _unpack(packed: Any) -> Message | None:
    try:
        detail: Message = symbol_database.Default().GetSymbol(packed.TypeName())()
    except KeyError:
        return None  # a detail type this client does not know
    return detail if packed.Unpack(detail) else None
