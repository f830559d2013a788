"""SchedulerService: the gRPC servicer, assembled from one mixin per group of RPCs."""

from __future__ import annotations

from services.scheduler.rpc_base import SERVICE_NAME, Clock, Deps, instance_id, utc_now
from services.scheduler.rpc_jobs import JobRpcs
from services.scheduler.rpc_users import UserRpcs
from zerog.scheduler.v1 import scheduler_service_pb2_grpc

__all__ = ["SERVICE_NAME", "Clock", "Deps", "SchedulerService", "instance_id", "utc_now"]


class SchedulerService(JobRpcs, UserRpcs, scheduler_service_pb2_grpc.SchedulerServiceServicer):
    """Jobs, runs, users' preferences, pushed data and delivery records."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
