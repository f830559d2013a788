"""Assemble a running inference server; used by __main__ and by tests alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import asyncpg
import grpc.aio
from prometheus_client import CollectorRegistry

from services.inference.archive import Archiver
from services.inference.breaker import Breakers, BreakerSettings
from services.inference.broker_client import BrokerClient
from services.inference.chat import ChatEngine
from services.inference.config import Config
from services.inference.credential_cache import RenewingHttp
from services.inference.deps import Deps
from services.inference.errors import ERRORS
from services.inference.failover import Failover
from services.inference.leases import Leases
from services.inference.openai_http import HttpEndpoint
from services.inference.provider_http import ProviderHttp
from services.inference.quota_client import QuotaClient
from services.inference.rate_limits import QuotaPermits
from services.inference.retry import RetryPolicy, Sleep
from services.inference.routing import ProviderStats
from services.inference.rpc_api_keys import ApiKeyRpcs
from services.inference.rpc_chat import ChatRpcs
from services.inference.rpc_insights import InsightRpcs
from services.inference.rpc_messages import MessageRpcs
from services.inference.rpc_sessions import SessionRpcs
from services.inference.settler import Settler, SettlerSettings, UsageRecorder
from services.inference.spans import CallMetrics
from services.inference.verifier import Verifier
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc as pb_grpc
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_db import Once
from zerog_grpc import (
    Clock,
    Monotonic,
    ServiceServer,
    monotonic,
    service_channel,
    start_server,
    utc_now,
)
from zerog_grpc.rate_permits import RatePermits

SERVICE_NAMES = [
    pb.DESCRIPTOR.services_by_name[name].full_name
    for name in ("InferenceService", "ChatSessionService")
]


class InferenceServicer(ChatRpcs, InsightRpcs, ApiKeyRpcs, pb_grpc.InferenceServiceServicer):
    """Chat completions, models, portfolio insights, dream readings and the HTTP endpoint's
    API keys."""


class ChatSessionServicer(SessionRpcs, MessageRpcs, pb_grpc.ChatSessionServiceServicer):
    """Chat sessions and talking in them."""


@dataclass
class InferenceServer(ServiceServer):
    """The gRPC server and the clients that live and die with it."""

    engine: ChatEngine
    breakers: Breakers
    channels: list[grpc.aio.Channel]
    http: aiohttp.ClientSession
    settler: Settler
    openai: HttpEndpoint | None = None
    """The OpenAI-compatible HTTP endpoint, unless HTTP_PORT is 0."""
    rates: RatePermits | None = None

    async def stop_parts(self, grace: float | None) -> None:
        if self.openai is not None:
            await self.openai.stop()
        await self.engine.broker.stop()

    async def close(self) -> None:
        if self.engine.leases is not None:
            await self.engine.leases.stop()
        if self.rates is not None:
            await self.rates.stop()
        await self.engine.verifier.stop()
        await self.settler.stop()
        for channel in self.channels:
            await channel.close()
        await self.http.close()


async def start(
    pool: asyncpg.Pool,
    config: Config,
    address: str,
    registry: CollectorRegistry | None = None,
    *,
    clock: Monotonic = monotonic,
    sleep: Sleep = asyncio.sleep,
    now: Clock = utc_now,
    http: aiohttp.ClientSession | None = None,
    breaker_clock: Monotonic | None = None,
    credential_refresh_seconds: float | None = None,
    http_address: tuple[str, int] | None = None,
) -> InferenceServer:
    """Start inference on `address` with the given pool (already migrated), and its HTTP
    endpoint on every interface at HTTP_PORT, or at `http_address` (port 0: a free one)."""
    minter = config.auth.minter("inference")
    channels = [
        service_channel(config.quota_address),
        service_channel(config.broker_address),
    ]
    storage = None
    if config.storage_address:
        channels.append(service_channel(config.storage_address))
        storage = storage_service_pb2_grpc.StorageServiceStub(channels[2])
    timeout = config.dependency_timeout_seconds
    quota = QuotaClient(
        quota_service_pb2_grpc.QuotaServiceStub(channels[0]),
        minter,
        timedelta(seconds=config.reservation_ttl_seconds),
        timeout,
    )
    broker = BrokerClient(
        broker_service_pb2_grpc.BrokerServiceStub(channels[1]),
        minter,
        timeout,
        cache_seconds=config.provider_cache_seconds,
        clock=clock,
        # Tests may stretch it (to see what the refresher alone does): config keeps it <= 4 s.
        refresh_seconds=credential_refresh_seconds or config.credential_refresh_seconds,
    )
    breakers = Breakers(
        BreakerSettings(
            fail_max=config.breaker_fail_max,
            failure_ratio=config.breaker_failure_ratio,
            ratio_min_calls=config.breaker_min_calls,
            cool_down_seconds=config.breaker_cool_down_seconds,
        ),
        breaker_clock or clock,
    )
    stats = ProviderStats()
    failover = Failover(
        breakers,
        stats,
        RetryPolicy(config.retry_attempts, config.retry_base_seconds, config.retry_cap_seconds),
        attempt_timeout=config.attempt_timeout_seconds,
        clock=clock,
        sleep=sleep,
    )
    settler = Settler.started(
        pool,
        quota,
        UsageRecorder(broker_service_pb2_grpc.BrokerServiceStub(channels[1]), minter, timeout),
        registry := registry or CollectorRegistry(),
        SettlerSettings(
            config.settle_batch_size,
            config.settle_poll_seconds,
            config.settle_retry_base_seconds,
            config.settle_retry_cap_seconds,
            config.settle_linger_seconds,
        ),
    )
    client = http or ProviderHttp.new_client()
    leases = Leases(quota, config, clock)
    leases.start()
    verifier = Verifier(
        pool,
        client,
        broker.credentials,
        breakers,
        stats,
        timeout=timeout,
        sweep_seconds=config.verify_sweep_seconds,
        grace_seconds=config.verify_grace_seconds,
        registry=registry,
    )
    verifier.start()
    http_calls = RenewingHttp(client, broker.cache, clock)
    engine = ChatEngine(
        broker,
        quota,
        http_calls,
        failover,
        settler,
        verifier,
        leases,
        CallMetrics(registry, breakers),
    )
    once = Once(
        pool,
        lease=timedelta(seconds=config.lease()),
        retry_after=config.request_retry_after_seconds,
    )
    archiver = Archiver(storage, minter, timeout)
    rates = RatePermits(
        QuotaPermits(quota.stub, minter, timedelta(seconds=config.rate_hold_seconds), timeout),
        config.rate_permits,
        clock,
        sleep,
    )
    rates.start()
    deps = Deps(
        pool,
        engine,
        once,
        breakers,
        stats,
        archiver,
        clock,
        now,
        config.dream_min_balance_neuron,
        rates,
    )

    def register(server: grpc.aio.Server) -> None:
        pb_grpc.add_InferenceServiceServicer_to_server(InferenceServicer(deps), server)
        pb_grpc.add_ChatSessionServiceServicer_to_server(ChatSessionServicer(deps), server)

    running = await start_server(address, SERVICE_NAMES, register, config, registry, errors=ERRORS)
    openai = None
    if http_address is not None:
        openai = await HttpEndpoint.started(deps, *http_address)
    elif config.http_port:
        openai = await HttpEndpoint.started(deps, None, config.http_port)
    return InferenceServer(running, engine, breakers, channels, client, settler, openai, rates)
