"""What the RPC modules share: the parts they call, and how a change runs once per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from services.storage.access import Caller, caller
from services.storage.backups import Backups
from services.storage.puts import PutFlow
from services.storage.reads import ReadFlow
from services.storage.remote import QuotaClient
from zerog_db import Connection, Once
from zerog_grpc import Clock
from zerog_grpc.rate_permits import RatePermits

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Deps:
    """The parts the handlers call. `uploading` is the Once of calls that upload (PutObject,
    RecoverObject): a short lease, renewed while they run, frees a dead replica's claim soon."""

    pool: asyncpg.Pool
    once: Once
    uploading: Once
    puts: PutFlow
    reads: ReadFlow
    backups: Backups
    max_object_bytes: int
    max_replicas: int
    global_jobs: frozenset[str]
    clock: Clock
    quota: QuotaClient | None = None
    rates: RatePermits | None = None
    """Namespace owners' rate limits, held locally (None without quota)."""

    async def run(
        self,
        who: Caller,
        request: Message,
        response: type[M],
        work: Callable[[], Awaitable[M]],
        *,
        uploading: bool = False,
    ) -> M:
        """`work()`, whose effects reach past the database, once per request of `who`; the
        stored answer for a retry. `uploading`: under the short, renewed lease."""
        once = self.uploading if uploading else self.once
        return await once.run(who.request(request), response, work)

    async def write(
        self,
        request: Message,
        response: type[M],
        work: Callable[[Connection, Caller], Awaitable[M]],
    ) -> M:
        """`work(conn, caller)` once per request of the caller: its writes and the stored
        answer commit together, and a retry gets that answer."""
        who = caller()

        async def in_transaction(conn: Connection) -> M:
            return await work(conn, who)

        return await self.once.run_in_transaction(who.request(request), response, in_transaction)
