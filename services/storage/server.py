"""Assemble a running storage server; used by __main__ and by tests alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import grpc.aio
from prometheus_client import CollectorRegistry

from services.storage import files
from services.storage.backups import Backups
from services.storage.config import Config
from services.storage.deps import Deps
from services.storage.errors import ERRORS
from services.storage.keys import NamespaceKeys
from services.storage.metrics import UploadMetrics
from services.storage.periodic import JobMetrics, Periodic
from services.storage.policy import GLOBAL_JOBS
from services.storage.puts import PutFlow
from services.storage.rate_limits import QuotaPermits
from services.storage.reads import ReadFlow
from services.storage.remote import QUOTA_TIMEOUT, BrokerSubmitter, QuotaClient
from services.storage.rpc_jobs import JobRpcs
from services.storage.rpc_namespaces import NamespaceRpcs
from services.storage.rpc_objects import ObjectRpcs
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_db import Once
from zerog_grpc import (
    Clock,
    ServiceServer,
    monotonic,
    service_channel,
    start_server,
    utc_now,
)
from zerog_grpc.rate_permits import RatePermits
from zerog_storage import (
    Downloader,
    FeeReader,
    JsonRpcClient,
    NodeSet,
    StorageProtocolError,
    Submitter,
    Uploader,
    UploadOptions,
)
from zerog_storage.resilience import Breakers, BreakerSettings

log = logging.getLogger(__name__)
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["StorageService"].full_name
# Our own messages are at most one chunk; the limit only needs room for a generous chunk.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class StorageService(
    NamespaceRpcs, ObjectRpcs, JobRpcs, storage_service_pb2_grpc.StorageServiceServicer
):
    """Namespaces, ACLs and objects on 0G Storage, with verification and recovery."""


@dataclass
class StorageServer(ServiceServer):
    """The gRPC server and the clients that live and die with it."""

    nodes: NodeSet
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    rpc: JsonRpcClient | None = None
    periodic: Periodic | None = None
    rates: RatePermits | None = None

    async def stop_parts(self, grace: float | None) -> None:
        if self.periodic is not None:
            await self.periodic.stop()
        if self.rates is not None:
            await self.rates.stop()

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        await self.nodes.aclose()
        if self.rpc is not None:
            await self.rpc.aclose()


async def _fee_reader(
    config: Config, nodes: NodeSet, breakers: Breakers
) -> tuple[FeeReader | None, JsonRpcClient | None]:
    """Quote fees from the chain when ZG_RPC_URL is set; the Flow address comes from a node."""
    if not config.rpc_url:
        return None, None
    for node in await nodes.discover():
        try:
            status = await node.client.get_status()
        except StorageProtocolError:
            continue
        if status.network_identity is not None:
            rpc = JsonRpcClient(config.rpc_url, breakers=breakers)
            return FeeReader(rpc, status.network_identity.flow_address), rpc
    log.warning("no storage node names its Flow contract: fees are not capped")
    return None, None


def _channel(address: str, channels: list[grpc.aio.Channel]) -> grpc.aio.Channel:
    channel = service_channel(address)
    channels.append(channel)
    return channel


async def start(
    pool: asyncpg.Pool,
    config: Config,
    address: str,
    registry: CollectorRegistry | None = None,
    *,
    submitter: Submitter | None = None,
    clock: Clock = utc_now,
) -> StorageServer:
    """Start storage on `address` with the given pool (already migrated).

    `submitter` defaults to the broker at BROKER_ADDRESS, the only production payer.
    """
    files.reset_dir(config.temp_dir)
    registry = registry or CollectorRegistry()
    channels: list[grpc.aio.Channel] = []
    if submitter is None:
        if not config.broker_address:
            raise ValueError("BROKER_ADDRESS is required to pay for uploads")
        minter = config.auth.minter("storage")
        submitter = BrokerSubmitter(_channel(config.broker_address, channels), minter)
    quota = rates = None
    if config.quota_address:
        ttl = timedelta(seconds=config.reservation_ttl())
        minter = config.auth.minter("storage")
        quota_channel = _channel(config.quota_address, channels)
        quota = QuotaClient(quota_channel, minter, ttl)
        permits = QuotaPermits(
            quota_service_pb2_grpc.QuotaServiceStub(quota_channel),
            minter,
            timedelta(seconds=config.rate_hold_seconds),
            QUOTA_TIMEOUT,
        )
        rates = RatePermits(permits, config.rate_permits, monotonic)
        rates.start()
    # Storage nodes and the chain RPC, one breaker per URL (per replica: see docs/operations.md).
    breakers = Breakers(BreakerSettings(config.breaker_fail_max, config.breaker_cool_down_seconds))
    nodes = NodeSet(config.node_urls, indexer_url=config.indexer_url or None, breakers=breakers)
    fees, rpc = await _fee_reader(config, nodes, breakers)
    options = UploadOptions(
        poll_interval=config.poll_seconds,
        poll_max=config.poll_max_seconds,
        tx_timeout=config.tx_timeout_seconds,
        finality_timeout=config.finality_timeout_seconds,
    )
    uploader = Uploader(nodes, submitter, options)
    downloader = Downloader(nodes)
    keys = NamespaceKeys(config.master_key)
    deps = Deps(
        pool=pool,
        once=Once(pool),
        uploading=Once(pool, lease=timedelta(seconds=config.upload_lease_seconds)),
        puts=PutFlow(
            pool,
            nodes,
            uploader,
            keys,
            quota=quota,
            fees=fees,
            temp_dir=config.temp_dir,
            default_replicas=config.default_replicas,
            max_replicas=config.max_replicas,
            metrics=UploadMetrics(registry),
        ),
        reads=ReadFlow(downloader, config.temp_dir, config.get_chunk_bytes, pool, keys),
        backups=Backups(pool, downloader, uploader, clock),
        max_object_bytes=config.max_object_bytes,
        max_replicas=config.max_replicas,
        global_jobs=GLOBAL_JOBS,
        clock=clock,
        quota=quota,
        rates=rates,
    )
    periodic = None
    if config.verify_period_seconds:
        periodic = Periodic(
            pool,
            deps.backups,
            quota,
            JobMetrics(registry),
            timedelta(seconds=config.verify_period_seconds),
            config.verify_batch,
            clock,
        )
    servicer = StorageService(deps)
    add = storage_service_pb2_grpc.add_StorageServiceServicer_to_server
    running = await start_server(
        address,
        [SERVICE_NAME],
        lambda s: add(servicer, s),
        config,
        registry,
        errors=ERRORS,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    if periodic is not None:
        periodic.start()
    return StorageServer(running, nodes, channels, rpc, periodic, rates)
