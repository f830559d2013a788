"""What every StorageService handler shares: dependencies, the caller's principals, errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.storage.backups import Backups
from services.storage.errors import AccessDenied
from services.storage.puts import PutFlow
from services.storage.reads import ReadFlow
from services.storage.remote import QuotaClient
from zerog_grpc import current_caller

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Caller:
    """The principals of the current call; `primary` owns what it creates."""

    primary: str
    principals: frozenset[str]
    service: str


def caller(global_jobs: frozenset[str]) -> Caller:
    """The authenticated caller as principals: service:<sub> and, if named, user:<user>."""
    c = current_caller()
    service = f"service:{c.service}"
    if c.user:
        user = f"user:{c.user}"
        return Caller(user, frozenset({service, user}), c.service)
    return Caller(service, frozenset({service}), c.service)


def require_global(who: Caller, global_jobs: frozenset[str], what: str) -> None:
    """Only job runners may act on every namespace at once."""
    if who.service not in global_jobs:
        raise AccessDenied("*", f"{what} over every namespace")


@dataclass(frozen=True)
class Deps:
    """The parts the handlers call."""

    pool: asyncpg.Pool
    puts: PutFlow
    reads: ReadFlow
    backups: Backups
    max_object_bytes: int
    max_replicas: int
    global_jobs: frozenset[str]
    clock: Clock
    quota: QuotaClient | None = None
