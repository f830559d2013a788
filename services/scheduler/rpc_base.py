"""What every group of scheduler RPCs shares: its dependencies and the error mapping."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import asyncpg
import grpc

from services.scheduler.errors import JobNotFound, RunNotFound, SchedulerError, UserNotFound
from services.scheduler.loop import SchedulerLoop
from services.scheduler.quota_watch import QuotaAlertWatcher
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import abort, bad_request, error_info

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SchedulerService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def instance_id() -> str:
    """This replica's name: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Deps:
    """What the RPCs work with."""

    pool: asyncpg.Pool
    loop: SchedulerLoop
    clock: Clock
    default_threshold_bps: int
    concurrency_limit: int
    batch_size: int
    instance: str
    quota_watcher: QuotaAlertWatcher | None = None


async def invalid(context: Context, what: str, problems: dict[str, str]) -> NoReturn:
    """INVALID_ARGUMENT naming every bad field."""
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"invalid {what}", bad_request(problems))


async def fail(context: Context, error: SchedulerError) -> NoReturn:
    """The one place where domain errors become statuses with typed details."""
    match error:
        case JobNotFound():
            detail = error_info("JOB_NOT_FOUND", job=error.name)
        case RunNotFound():
            detail = error_info("RUN_NOT_FOUND", run_id=error.run_id)
        case UserNotFound():
            detail = error_info("USER_NOT_FOUND", user_id=error.user_id)
        case _:
            await abort(context, grpc.StatusCode.INTERNAL, "internal error")
    await abort(context, grpc.StatusCode.NOT_FOUND, str(error), detail)
