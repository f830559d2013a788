"""QuotaService: the gRPC servicer, one mixin per group of RPCs over the same Deps."""

from __future__ import annotations

from services.quota.rpc_alerts import AlertRpcs
from services.quota.rpc_costs import CostRpcs
from services.quota.rpc_limits import LimitRpcs
from services.quota.rpc_reservations import ReservationRpcs
from services.quota.rpc_usage import UsageRpcs
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["QuotaService"].full_name


class QuotaService(
    ReservationRpcs,
    UsageRpcs,
    LimitRpcs,
    CostRpcs,
    AlertRpcs,
    quota_service_pb2_grpc.QuotaServiceServicer,
):
    """Budgets, reservations, prices, rate limits, cost records and alerts."""
