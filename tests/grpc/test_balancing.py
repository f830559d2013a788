"""Service-to-service channels spread calls over every replica behind one target, as a headless
Kubernetes Service's DNS name (one address per pod) does: both brokers get inference's calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import grpc.aio
import pytest
from eth_account.signers.local import LocalAccount
from prometheus_client import CollectorRegistry

from devnet import Devnet
from services.broker import server as broker_server
from services.inference import server as inference_server
from services.inference.config import Config
from tests.broker.conftest import broker_config
from tests.quota.conftest import StartQuota
from tests.support import auth_env, auth_metadata
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_db import create_pool
from zerog_grpc import balanced_target

CALLS = 20
StartBroker = Callable[[], Awaitable[tuple[int, CollectorRegistry]]]


def test_a_plain_address_is_resolved_by_dns_and_a_scheme_is_kept() -> None:
    assert balanced_target("broker:50051") == "dns:///broker:50051"
    assert balanced_target("ipv4:127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert balanced_target("dns:///broker.zerog:50051") == "dns:///broker.zerog:50051"


@pytest.fixture
async def start_broker_replica(
    running_devnet: Devnet, broker_db_url: str, funded_account: LocalAccount
) -> AsyncIterator[StartBroker]:
    """start() -> (port, metrics registry) of a broker on the shared database and wallet."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start() -> tuple[int, CollectorRegistry]:
        pool = await create_pool(broker_db_url, search_path="broker", max_size=5)
        registry = CollectorRegistry()
        config = broker_config(running_devnet, broker_db_url, funded_account)
        running = await broker_server.start(pool, config, "127.0.0.1:0", registry)

        async def stop() -> None:
            await running.stop(grace=None)
            await pool.close()

        stops.append(stop)
        return running.port, registry

    yield start
    for stop in reversed(stops):
        await stop()


def _list_providers_calls(registry: CollectorRegistry) -> float:
    labels = {"grpc_service": "zerog.broker.v1.BrokerService", "grpc_method": "ListProviders"}
    return registry.get_sample_value("zerog_grpc_server_started_total", labels) or 0.0


async def test_inference_calls_reach_both_broker_replicas(
    start_quota: StartQuota,
    start_broker_replica: StartBroker,
    inference_db_url: str,
) -> None:
    quota = await start_quota()
    (first, first_metrics), (second, second_metrics) = [
        await start_broker_replica() for _ in range(2)
    ]
    config = Config.from_env(
        {
            "DATABASE_URL": inference_db_url,
            **auth_env("inference"),
            "METRICS_PORT": "0",
            "QUOTA_ADDRESS": f"127.0.0.1:{quota.server.port}",
            # What a headless Service's name resolves to: one address per replica.
            "BROKER_ADDRESS": f"ipv4:127.0.0.1:{first},127.0.0.1:{second}",
            "PROVIDER_CACHE_SECONDS": "0",
            "HTTP_PORT": "0",
        }
    )
    pool = await create_pool(inference_db_url, search_path="inference", max_size=5)
    running = await inference_server.start(pool, config, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        for _ in range(CALLS):  # PROVIDER_CACHE_SECONDS=0: each one asks the broker
            await stub.ListModels(
                ipb.ListModelsRequest(), metadata=auth_metadata("scheduler", "inference")
            )
    finally:
        await channel.close()
        await running.stop(grace=None)
        await pool.close()

    counts = [_list_providers_calls(first_metrics), _list_providers_calls(second_metrics)]
    assert sum(counts) >= CALLS
    # round_robin alternates over ready connections; pick_first would give one of them all.
    assert min(counts) >= CALLS // 4, counts
