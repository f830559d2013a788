"""Storage's domain errors and the one map from every error a handler raises to its status."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import grpc.aio
from google.protobuf.message import Message

from zerog_grpc import (
    KERNEL_ERRORS,
    ErrorMap,
    Failure,
    error_info,
    precondition_failure,
    quota_failure,
    relayed,
    retry_info,
)
from zerog_grpc.rate_permits import RateLimited, rate_limited
from zerog_storage import (
    DataLost,
    NodesUnavailable,
    NotEnoughReplicas,
    StorageProtocolError,
    UploadIncomplete,
)
from zerog_storage.at_rest import Unreadable

Code = grpc.StatusCode
# Errors a retry with the same request_id can get past.
RETRY_SECONDS = 2.0


class StorageError(Exception):
    """Base of every storage domain error."""


class AccessDenied(StorageError):
    """The caller lacks a permission on a namespace (or the namespace does not exist)."""

    def __init__(self, namespace: str, needed: str) -> None:
        super().__init__(f"{needed} access to namespace {namespace!r} denied")
        self.namespace = namespace
        self.needed = needed


class NamespaceExists(StorageError):
    """The namespace name is taken."""

    def __init__(self, name: str) -> None:
        super().__init__(f"namespace {name!r} already exists")
        self.name = name


class NamespaceNotEmpty(StorageError):
    """A namespace still holds live objects."""

    def __init__(self, name: str, count: int) -> None:
        super().__init__(f"namespace {name!r} holds {count} live objects")
        self.name, self.count = name, count


class ObjectNotFound(StorageError):
    """No live object (or version) by that name."""

    def __init__(self, namespace: str, name: str, version: int = 0) -> None:
        which = f" version {version}" if version else ""
        super().__init__(f"object {name!r}{which} not found in {namespace!r}")
        self.namespace, self.name, self.version = namespace, name, version


class NamespaceQuotaExceeded(StorageError):
    """An upload would take a namespace past its byte limit."""

    def __init__(self, namespace: str, limit: int, used: int, requested: int) -> None:
        super().__init__(
            f"namespace {namespace!r}: {used} of {limit} bytes used, {requested} requested"
        )
        self.namespace, self.limit, self.used, self.requested = namespace, limit, used, requested


class ChecksumMismatch(StorageError):
    """Downloaded bytes prove against the root but not the recorded SHA-256."""


class KeyDeleted(StorageError):
    """The namespace's data key was deleted: its sealed objects can no longer be read."""

    def __init__(self, namespace: str) -> None:
        super().__init__(f"the data key of namespace {namespace!r} was deleted")
        self.namespace = namespace


def _failure(code: grpc.StatusCode, error: Exception, *details: Message) -> Failure:
    return Failure(code, str(error), details)


def _not_empty(e: NamespaceNotEmpty) -> Failure:
    return _failure(
        Code.FAILED_PRECONDITION,
        e,
        precondition_failure("NAMESPACE_NOT_EMPTY", f"namespace:{e.name}", str(e)),
        error_info("NAMESPACE_NOT_EMPTY", live_objects=str(e.count)),
    )


def _over_quota(e: NamespaceQuotaExceeded) -> Failure:
    return _failure(
        Code.RESOURCE_EXHAUSTED,
        e,
        quota_failure(f"namespace:{e.namespace}", str(e)),
        error_info("NAMESPACE_QUOTA_EXCEEDED", limit=str(e.limit), used=str(e.used)),
    )


def _few_replicas(e: NotEnoughReplicas) -> Failure:
    return _failure(
        Code.FAILED_PRECONDITION,
        e,
        precondition_failure("NOT_ENOUGH_REPLICAS", "storage-nodes", str(e)),
        error_info("NOT_ENOUGH_REPLICAS", wanted=str(e.wanted), available=str(e.available)),
    )


def _lost(e: Exception) -> Failure:
    return _failure(Code.DATA_LOSS, e, error_info("OBJECT_DATA_LOST"))


def _unreadable(e: Exception) -> Failure:
    # The bytes may be intact on 0G; without their key (or with altered bytes) they stay sealed.
    return _failure(Code.DATA_LOSS, e, error_info("OBJECT_UNREADABLE"))


def _transient(reason: str) -> Callable[[Exception], Failure]:
    # A node refused, garbled or did not answer: the caller's retry may get past it.
    return lambda e: _failure(Code.UNAVAILABLE, e, retry_info(RETRY_SECONDS), error_info(reason))


ERRORS: ErrorMap = {
    **KERNEL_ERRORS,
    RateLimited: rate_limited,
    AccessDenied: lambda e: _failure(
        Code.PERMISSION_DENIED,
        e,
        error_info("NAMESPACE_ACCESS_DENIED", namespace=e.namespace, needed=e.needed),
    ),
    NamespaceExists: lambda e: _failure(
        Code.ALREADY_EXISTS, e, error_info("NAMESPACE_EXISTS", namespace=e.name)
    ),
    NamespaceNotEmpty: _not_empty,
    ObjectNotFound: lambda e: _failure(
        Code.NOT_FOUND, e, error_info("OBJECT_NOT_FOUND", namespace=e.namespace, name=e.name)
    ),
    NamespaceQuotaExceeded: _over_quota,
    NotEnoughReplicas: _few_replicas,
    DataLost: _lost,
    ChecksumMismatch: _lost,
    KeyDeleted: _unreadable,
    Unreadable: _unreadable,
    NodesUnavailable: _transient("STORAGE_NODES_UNAVAILABLE"),
    UploadIncomplete: _transient("STORAGE_NODES_UNAVAILABLE"),
    StorageProtocolError: _transient("STORAGE_NODE_ERROR"),
    # Quota's and the broker's refusals pass through as they are; their outages are ours.
    grpc.aio.AioRpcError: relayed,
}
