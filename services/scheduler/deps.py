"""What every group of scheduler RPCs works with, and how a mutating call is keyed."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import grpc
from google.protobuf.message import Message

from services.scheduler.loop import SchedulerLoop
from services.scheduler.quota_watch import QuotaAlertWatcher
from zerog_db import Connection, Once, Request
from zerog_grpc import Problems, current_caller
from zerog_grpc.clock import Clock

Context = grpc.aio.ServicerContext[Any, Any]
M = TypeVar("M", bound=Message)


def instance_id() -> str:
    """This replica's name: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Deps:
    """What the RPCs work with."""

    pool: asyncpg.Pool
    once: Once
    loop: SchedulerLoop
    clock: Clock
    default_threshold_bps: int
    concurrency_limit: int
    batch_size: int
    instance: str
    quota_watcher: QuotaAlertWatcher | None = None

    @staticmethod
    def checked(request_id: str, request: Message, problems: Problems) -> Request:
        """`request` under the calling service's `request_id` (its method named by its type),
        once its request_id and `problems` show nothing wrong with it."""
        problems.request_id("request_id", request_id)
        name = request.DESCRIPTOR.name
        problems.raise_if_any(f"invalid {name}")
        return Request.of(
            current_caller().service, request_id, name.removesuffix("Request"), request
        )

    async def transaction(
        self,
        request_id: str,
        request: Message,
        problems: Problems,
        answer: type[M],
        work: Callable[[Connection], Awaitable[M]],
    ) -> M:
        """A database-only change: refused if `problems` (or the request_id) say so, else
        `work` once for `request`, its writes and answer committed together."""
        key = self.checked(request_id, request, problems)
        return await self.once.run_in_transaction(key, answer, work)
