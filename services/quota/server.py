"""Assemble a running quota server; used by __main__ and by tests alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry

from services.quota.alerts import AlertHub
from services.quota.config import Config
from services.quota.deps import Deps
from services.quota.errors import ERRORS
from services.quota.metrics import UsageGauges
from services.quota.rpc_alerts import AlertRpcs
from services.quota.rpc_costs import CostRpcs
from services.quota.rpc_leases import LeaseRpcs
from services.quota.rpc_limits import LimitRpcs
from services.quota.rpc_rates import RateRpcs
from services.quota.rpc_reservations import ReservationRpcs
from services.quota.rpc_usage import UsageRpcs
from services.quota.sweeper import Sweeper
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import Once
from zerog_grpc import Clock, ServiceServer, start_server, utc_now

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["QuotaService"].full_name


class QuotaService(
    ReservationRpcs,
    LeaseRpcs,
    RateRpcs,
    UsageRpcs,
    LimitRpcs,
    CostRpcs,
    AlertRpcs,
    quota_service_pb2_grpc.QuotaServiceServicer,
):
    """Budgets, reservations, leases, prices, rate limits, cost records and alerts."""


@dataclass
class QuotaServer(ServiceServer):
    """The gRPC server and the background parts that live and die with it."""

    hub: AlertHub
    sweeper: Sweeper

    async def stop_parts(self, grace: float | None) -> None:
        await self.hub.close()  # ends the alert watches, which would hold the drain open

    async def close(self) -> None:
        await self.sweeper.stop()


async def start(
    pool: asyncpg.Pool,
    config: Config,
    address: str,
    registry: CollectorRegistry | None = None,
    *,
    clock: Clock = utc_now,
) -> QuotaServer:
    """Start quota on `address` with the given pool (already migrated)."""
    registry = registry or CollectorRegistry()
    hub = AlertHub(pool, config.database_url)
    await hub.start()
    rate_limits = list(config.rate_limits)
    servicer = QuotaService(
        Deps(
            pool,
            Once(pool),
            hub,
            default_tier=config.default_tier,
            rate_limits=rate_limits,
            default_ttl=timedelta(seconds=config.default_ttl_seconds),
            max_ttl=timedelta(seconds=config.max_ttl_seconds),
            clock=clock,
        )
    )
    add = quota_service_pb2_grpc.add_QuotaServiceServicer_to_server
    running = await start_server(
        address, [SERVICE_NAME], lambda s: add(servicer, s), config, registry, errors=ERRORS
    )
    gauges = UsageGauges(registry, config.default_tier)
    sweeper = Sweeper(pool, clock, rate_limits, config.sweep_interval_seconds, gauges)
    sweeper.start()
    return QuotaServer(running, hub, sweeper)
