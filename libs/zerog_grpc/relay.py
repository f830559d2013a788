"""What a dependency's failed call becomes for our own caller: one rule for every service.

A refusal the caller can act on keeps its status and every typed detail (ErrorInfo reason,
QuotaFailure, PreconditionFailure, BadRequest...): the caller fixes its input, tops up its budget
or acknowledges the provider, and retrying unchanged would not help. A dependency that is down
is UNAVAILABLE with RetryInfo, so callers retry. A dependency that refuses *us* (our token, our
allow-list entry) or fails inside is INTERNAL: neither the caller nor a retry can fix it.

    ERRORS = {**KERNEL_ERRORS, grpc.aio.AioRpcError: relayed, ...}
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import symbol_database
from google.protobuf.message import Message

from zerog_grpc.errormap import Failure
from zerog_grpc.errors import error_info, retry_info, status_of

log = logging.getLogger(__name__)
Code = grpc.StatusCode

# About the caller's own request: its input, what it names, its budget, a state it can change.
PASSED_ON = frozenset(
    {Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION, Code.RESOURCE_EXHAUSTED}
)
# Transient: another try (after RetryInfo's delay) may find the dependency back.
TRANSIENT = frozenset({Code.UNAVAILABLE, Code.ABORTED, Code.CANCELLED})
RETRY_SECONDS = 2.0


def details_of(error: grpc.aio.AioRpcError) -> tuple[Message, ...]:
    """Every typed detail of a failed call's google.rpc.Status, decoded; unknown types dropped."""
    status = status_of(error)
    found: list[Message] = []
    for packed in status.details if status is not None else ():
        try:
            detail = symbol_database.Default().GetSymbol(packed.TypeName())()
        except KeyError:
            continue
        if packed.Unpack(detail):
            found.append(detail)
    return tuple(found)


def relayed(error: grpc.aio.AioRpcError) -> Failure:
    """The Failure our caller gets for a dependency's failed call (see the module docstring)."""
    code = error.code()
    if code in PASSED_ON:
        return Failure(code, error.details() or code.name.lower(), details_of(error))
    if code == Code.DEADLINE_EXCEEDED:
        return Failure(code, "deadline exceeded")
    log.warning("dependency failed", extra={"code": code.name, "error": error.details()})
    if code in TRANSIENT:
        return Failure(
            Code.UNAVAILABLE,
            "a dependency is unavailable, retry",
            (error_info("DEPENDENCY_UNAVAILABLE", code=code.name), retry_info(RETRY_SECONDS)),
        )
    # UNAUTHENTICATED / PERMISSION_DENIED name our credentials, not the caller's; the rest is
    # a fault of ours or the dependency's: the operator's to fix, so no RetryInfo.
    reason = (
        "DEPENDENCY_AUTH_FAILED"
        if code in (Code.UNAUTHENTICATED, Code.PERMISSION_DENIED)
        else "DEPENDENCY_FAILED"
    )
    return Failure(Code.INTERNAL, "internal error", (error_info(reason, code=code.name),))
