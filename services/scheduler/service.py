"""SchedulerService: the gRPC servicer, one flat class over the RPCs of each resource."""

from __future__ import annotations

from services.scheduler.rpc_deliveries import DeliveryRpcs
from services.scheduler.rpc_jobs import JobRpcs
from services.scheduler.rpc_pushes import PushRpcs
from services.scheduler.rpc_runs import RunRpcs
from services.scheduler.rpc_users import UserRpcs
from zerog.scheduler.v1 import scheduler_service_pb2_grpc


class SchedulerService(
    JobRpcs,
    RunRpcs,
    UserRpcs,
    PushRpcs,
    DeliveryRpcs,
    scheduler_service_pb2_grpc.SchedulerServiceServicer,
):
    """Jobs, runs, users' preferences, pushed data and delivery records (built on a Deps)."""
