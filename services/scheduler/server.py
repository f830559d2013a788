"""Assemble a running scheduler (gRPC server plus loop); used by __main__ and by tests alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from services.scheduler.background import Background
from services.scheduler.channels import EmailSender, WebhookSender
from services.scheduler.config import Config
from services.scheduler.content import Composer, MarketHours
from services.scheduler.deps import Deps, instance_id
from services.scheduler.dispatcher import Dispatcher
from services.scheduler.errors import ERRORS
from services.scheduler.loop import SchedulerLoop
from services.scheduler.metrics import SchedulerMetrics
from services.scheduler.narrator import Narrator
from services.scheduler.planner import Planner
from services.scheduler.quota_watch import QuotaAlertWatcher
from services.scheduler.rpc_deliveries import DeliveryRpcs
from services.scheduler.rpc_jobs import JobRpcs
from services.scheduler.rpc_pushes import PushRpcs
from services.scheduler.rpc_runs import RunRpcs
from services.scheduler.rpc_users import UserRpcs
from services.scheduler.store import jobs
from services.scheduler.summaries import SummaryKeeper
from services.scheduler.summary_storage import SummaryStorage
from services.scheduler.worker import Composing, Worker
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog_db import Once
from zerog_grpc import ServiceServer, start_server
from zerog_grpc.clock import Clock, utc_now

log = logging.getLogger(__name__)


SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SchedulerService"].full_name


class SchedulerService(
    JobRpcs,
    RunRpcs,
    UserRpcs,
    PushRpcs,
    DeliveryRpcs,
    scheduler_service_pb2_grpc.SchedulerServiceServicer,
):
    """Jobs, runs, users' preferences, pushed data and delivery records (built on a Deps)."""


@dataclass
class SchedulerServer(ServiceServer):
    """The gRPC server and the background parts that live and die with it."""

    loop: SchedulerLoop
    http: httpx.AsyncClient
    narrator: Narrator | None
    metrics: SchedulerMetrics
    quota_watcher: QuotaAlertWatcher | None = None
    storage: SummaryStorage | None = None

    async def stop_parts(self, grace: float | None) -> None:
        """Stop the loop: work it leased resumes on another replica."""
        if self.quota_watcher is not None:
            await self.quota_watcher.stop()
        await self.loop.stop(grace)

    async def close(self) -> None:
        await self.http.aclose()
        if self.narrator is not None:
            await self.narrator.close()
        if self.storage is not None:
            await self.storage.close()


def build_narrator(config: Config) -> Narrator | None:
    """The inference client, or None when INFERENCE_ADDRESS is unset (figures only)."""
    if not config.inference_address:
        log.warning("INFERENCE_ADDRESS unset: notifications carry the computed figures only")
        return None
    minter = config.auth.minter("scheduler")
    return Narrator(
        config.inference_address, minter, config.inference_model, config.inference_timeout_seconds
    )


def build_summary_storage(config: Config) -> SummaryStorage | None:
    """The storage client keeping summaries, or None when STORAGE_ADDRESS is unset."""
    if not config.storage_address:
        log.warning("STORAGE_ADDRESS unset: summaries are delivered but not kept on 0G Storage")
        return None
    return SummaryStorage(
        config.storage_address, config.auth.minter("scheduler"), config.storage_timeout_seconds
    )


def build_quota_watcher(
    pool: asyncpg.Pool, config: Config, clock: Clock, loop: SchedulerLoop
) -> QuotaAlertWatcher | None:
    """The quota alert stream's follower, or None when QUOTA_ADDRESS is unset."""
    if not config.quota_address:
        return None
    return QuotaAlertWatcher(
        pool,
        config.quota_address,
        config.auth.minter("scheduler"),
        clock,
        (config.quota_reconnect_base_seconds, config.quota_reconnect_max_seconds),
        on_notified=loop.wake,
    )


def build_loop(
    parts: Background,
    config: Config,
    composer: Composing,
    http: httpx.AsyncClient,
    instance: str,
    storage: SummaryStorage | None,
) -> SchedulerLoop:
    """Planner, worker, dispatcher and summary keeper on one replica's pool, clock, metrics."""
    return SchedulerLoop(
        Planner(parts, instance),
        Worker(parts, composer, keeps_summaries=storage is not None),
        Dispatcher(parts, WebhookSender(http), EmailSender(config.smtp)),
        config.poll_interval_seconds,
        SummaryKeeper(parts, storage) if storage is not None else None,
    )


async def start(
    pool: asyncpg.Pool,
    config: Config,
    address: str,
    registry: CollectorRegistry | None = None,
    *,
    clock: Clock = utc_now,
    run_loop: bool = True,
    composer: Composing | None = None,
    instance: str | None = None,
) -> SchedulerServer:
    """Start the scheduler on `address` with the given pool (already migrated).

    `run_loop=False` leaves ticking to the caller (tests drive a manual clock); `composer`
    replaces how a user's notification is built (tests inject failures with it). The quota alert
    watch runs whenever QUOTA_ADDRESS is set.
    """
    instance = instance or instance_id()
    registry = registry or CollectorRegistry()
    metrics = SchedulerMetrics(registry)
    tuning = config.tuning
    await jobs.ensure_jobs(pool, config.jobs, clock())
    narrator = build_narrator(config)
    hours = MarketHours(
        config.exchange_time_zone, tuning.market_open_minute, tuning.market_close_minute
    )
    http = httpx.AsyncClient(timeout=tuning.webhook_timeout_seconds, follow_redirects=False)
    composer = composer or Composer(pool, narrator, hours)
    storage = build_summary_storage(config)
    parts = Background(pool, tuning, clock, metrics)
    loop = build_loop(parts, config, composer, http, instance, storage)
    watcher = build_quota_watcher(pool, config, clock, loop)
    deps = Deps(
        pool,
        Once(pool),
        loop,
        clock,
        tuning.default_alert_threshold_bps,
        tuning.concurrency_limit,
        tuning.batch_size,
        instance,
        watcher,
    )
    servicer = SchedulerService(deps)
    add = scheduler_service_pb2_grpc.add_SchedulerServiceServicer_to_server
    running = await start_server(
        address, [SERVICE_NAME], lambda s: add(servicer, s), config, registry, errors=ERRORS
    )
    if run_loop:
        loop.start()
    if watcher is not None:
        watcher.start()
    return SchedulerServer(running, loop, http, narrator, metrics, watcher, storage)
