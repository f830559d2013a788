"""Who is calling, as principals, and the permission checks every RPC goes through."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from services.storage.errors import AccessDenied
from services.storage.model import Namespace, Permission
from services.storage.store import namespaces
from zerog_db import Executor, Request
from zerog_grpc import current_caller


@dataclass(frozen=True)
class Caller:
    """The principals of the current call; `primary` owns what it creates."""

    primary: str
    principals: frozenset[str]
    service: str

    def request(self, message: Message, method: str = "") -> Request:
        """`message` (which has a request_id) as this caller's request to `method` (by default
        the message's name without "Request"). Two services acting for one user are two
        callers: the scope is both, the service's length first so each pair has one spelling."""
        scope = f"{len(self.service)}:{self.service}:{self.primary}"
        method = method or message.DESCRIPTOR.name.removesuffix("Request")
        request_id: str = getattr(message, "request_id")  # noqa: B009  # Message names no fields
        return Request.of(scope, request_id, method, message)


def caller() -> Caller:
    """The authenticated caller as principals: service:<sub> and, if named, user:<user>."""
    c = current_caller()
    service = f"service:{c.service}"
    if c.user:
        user = f"user:{c.user}"
        return Caller(user, frozenset({service, user}), c.service)
    return Caller(service, frozenset({service}), c.service)


def _check(namespace: Namespace | None, name: str, who: Caller, needed: Permission) -> Namespace:
    held = namespace.permission_of(who.principals) if namespace is not None else None
    if namespace is None or held is None or held < needed:
        raise AccessDenied(name, needed.name)
    return namespace


async def require(db: Executor, name: str, who: Caller, needed: Permission) -> Namespace:
    """The namespace (with its usage) if the caller holds `needed` on it; AccessDenied
    otherwise, or if it does not exist."""
    return _check(await namespaces.get(db, name), name, who, needed)


async def check(db: Executor, name: str, who: Caller, needed: Permission) -> None:
    """require()'s check alone, for RPCs that need no usage figure (reads: one index lookup)."""
    _check(await namespaces.get_for_access(db, name), name, who, needed)


def require_global(who: Caller, global_jobs: frozenset[str], what: str) -> None:
    """Only job runners may act on every namespace at once."""
    if who.service not in global_jobs:
        raise AccessDenied("*", f"{what} over every namespace")
