"""The storage service's domain errors, one base, each named for what went wrong."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage domain error."""


class InvalidRequest(StorageError):
    """Fields of a request are wrong; `problems` maps field to description."""

    def __init__(self, what: str, problems: dict[str, str]) -> None:
        super().__init__(f"invalid {what}: " + "; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.what = what
        self.problems = problems


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
        self.name = name
        self.count = count


class ObjectNotFound(StorageError):
    """No live object (or version) by that name."""

    def __init__(self, namespace: str, name: str, version: int = 0) -> None:
        which = f" version {version}" if version else ""
        super().__init__(f"object {name!r}{which} not found in {namespace!r}")
        self.namespace, self.name, self.version = namespace, name, version


class RequestIdReused(StorageError):
    """A request_id came back with a different request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was used for a different request")
        self.request_id = request_id


class NamespaceQuotaExceeded(StorageError):
    """An upload would take a namespace past its byte limit."""

    def __init__(self, namespace: str, limit: int, used: int, requested: int) -> None:
        super().__init__(
            f"namespace {namespace!r}: {used} of {limit} bytes used, {requested} requested"
        )
        self.namespace, self.limit, self.used, self.requested = namespace, limit, used, requested


class ChecksumMismatch(StorageError):
    """Downloaded bytes prove against the root but not the recorded SHA-256."""
