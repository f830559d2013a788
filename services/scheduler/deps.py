"""What every group of scheduler RPCs works with, and how a mutating call is keyed."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from google.protobuf.message import Message

from services.scheduler.loop import SchedulerLoop
from services.scheduler.quota_watch import QuotaAlertWatcher
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_db import Once, Request
from zerog_grpc import current_caller
from zerog_grpc.clock import Clock

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SchedulerService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]


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
    def key(request_id: str, request: Message) -> Request:
        """`request` under the calling service's `request_id` (its method named by its type)."""
        method = request.DESCRIPTOR.name.removesuffix("Request")
        return Request.of(current_caller().service, request_id, method, request)
