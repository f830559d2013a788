"""Credentials held in inference (issue 16, acceptance 5): completions take the held credential
without asking the broker, a revoke-all reaches every replica within 5 seconds, and a
credential the provider refuses is asked for once more.

Real servers throughout: a devnet provider, a broker (its RPC metrics count the asks), quota,
and inference replicas through the production server.start(), each with an httpx client that
records the Authorization header and status of every provider call."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import asyncpg
import grpc.aio
import httpx
import pytest
from eth_account.signers.local import LocalAccount
from prometheus_client import CollectorRegistry

from devnet import Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_providers
from services.broker import server as broker_server
from services.inference import server
from services.inference.config import Config
from services.inference.provider_http import ProviderHttp
from services.inference.server import InferenceServer
from tests.broker.conftest import Broker, broker_config
from tests.inference.conftest import fund, inference_config
from tests.quota.conftest import StartQuota
from tests.support import auth_env, auth_metadata
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_db import create_pool
from zerog_grpc.settings import ConfigError

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub

REVOKE_DEADLINE = 5.0
NEVER = 3600.0
"""A refresh interval no test outlives: only completions ask the broker then."""
MODEL = f"creds-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def provider(running_devnet: Devnet, deployer: Transactor) -> Iterator[ProviderProcess]:
    (process,) = launch_providers(
        running_devnet.state,
        [ProviderSpec(model=MODEL, settle_interval=0)],
        deployer,
    )
    yield process
    process.stop()


@dataclass(frozen=True)
class ProviderCall:
    authorization: str
    status: int
    at: float


@dataclass
class Replica:
    """One inference server and every provider call it made."""

    server: InferenceServer
    chat: InferenceServiceAsyncStub
    calls: list[ProviderCall] = field(default_factory=list)

    def held(self, provider: str) -> str | None:
        creds = self.server.engine.broker.cache.held(provider)
        return creds.authorization if creds else None


@dataclass
class Cluster:
    broker: Broker
    registry: CollectorRegistry
    model: str
    provider: str

    def asks(self) -> float:
        """GetRequestCredentials calls the broker has received."""
        labels = {
            "grpc_service": "zerog.broker.v1.BrokerService",
            "grpc_method": "GetRequestCredentials",
        }
        return self.registry.get_sample_value("zerog_grpc_server_started_total", labels) or 0.0

    async def complete(self, replica: Replica) -> pb.ChatCompletionResponse:
        return await replica.chat.ChatCompletion(
            pb.ChatCompletionRequest(
                request_id=uuid.uuid4().hex,
                subject="user:creds",
                model=self.model,
                messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="hello held token")],
                max_tokens=8,
            ),
            metadata=auth_metadata("scheduler", "inference"),
        )

    async def revoke_all(self) -> None:
        await self.broker.stub.RevokeAllApiKeys(
            bpb.RevokeAllApiKeysRequest(request_id=uuid.uuid4().hex, provider=self.provider),
            metadata=self.broker.md(),
        )


StartReplica = Callable[[float], Awaitable[Replica]]


@pytest.fixture
async def cluster(
    running_devnet: Devnet,
    broker_db_url: str,
    funded_account: LocalAccount,
    provider: ProviderProcess,
    start_quota: StartQuota,
) -> AsyncIterator[Cluster]:
    """A funded broker whose RPC metrics the test reads."""
    registry = CollectorRegistry()
    pool = await create_pool(broker_db_url, search_path="broker", max_size=20)
    config = broker_config(
        running_devnet, broker_db_url, funded_account, PROVIDER_CACHE_TTL_SECONDS="0.1"
    )
    running = await broker_server.start(pool, config, "127.0.0.1:0", registry)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    broker = Broker(
        running, broker_service_pb2_grpc.BrokerServiceStub(channel), pool, funded_account
    )
    await fund(broker, [provider])
    yield Cluster(broker, registry, MODEL, provider.provider)
    await channel.close()
    await running.stop(grace=None)
    await pool.close()


@pytest.fixture
async def start_replica(
    cluster: Cluster, start_quota: StartQuota, inference_db_url: str
) -> AsyncIterator[StartReplica]:
    """start_replica(refresh_seconds) -> another inference server on the cluster's broker."""
    quota = await start_quota()
    started: list[tuple[Replica, grpc.aio.Channel, asyncpg.Pool]] = []

    async def start(refresh_seconds: float) -> Replica:
        calls: list[ProviderCall] = []

        async def record(
            _: aiohttp.ClientSession, __: object, sent: aiohttp.TraceRequestEndParams
        ) -> None:
            if sent.method != "POST":
                return  # a TEE signature fetch after the answer, which sends no credential
            auth = sent.headers.get("Authorization", "")
            calls.append(ProviderCall(auth, sent.response.status, time.monotonic()))

        traced = aiohttp.TraceConfig()
        traced.on_request_end.append(record)

        pool = await create_pool(inference_db_url, search_path="inference", max_size=10)
        running = await server.start(
            pool,
            inference_config(inference_db_url, quota, cluster.broker),
            "127.0.0.1:0",
            http=ProviderHttp.new_client(trace_configs=[traced]),
            credential_refresh_seconds=refresh_seconds,
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        replica = Replica(running, stub, calls)
        started.append((replica, channel, pool))
        return replica

    yield start
    for replica, channel, pool in started:
        await channel.close()
        await replica.server.stop(grace=None)
        await pool.close()


async def test_a_burst_of_completions_asks_the_broker_once(
    cluster: Cluster, start_replica: StartReplica
) -> None:
    replica = await start_replica(NEVER)
    before = cluster.asks()

    burst = await asyncio.gather(*(cluster.complete(replica) for _ in range(20)))
    then = [await cluster.complete(replica) for _ in range(5)]

    assert all(r.choices[0].message.content for r in [*burst, *then])
    assert cluster.asks() - before == 1
    assert len(replica.calls) == 25
    assert {(c.authorization, c.status) for c in replica.calls} == {
        (replica.calls[0].authorization, 200)
    }


async def test_revoke_all_reaches_every_replica_within_five_seconds(
    cluster: Cluster, start_replica: StartReplica
) -> None:
    busy, idle = await start_replica(2.0), await start_replica(2.0)
    await cluster.complete(busy)
    await cluster.complete(idle)
    revoked = busy.held(cluster.provider)
    assert revoked is not None and idle.held(cluster.provider) == revoked

    await cluster.revoke_all()
    deadline = time.monotonic() + REVOKE_DEADLINE
    # The busy replica keeps answering throughout; the idle one is left to its refresher.
    while revoked in (busy.held(cluster.provider), idle.held(cluster.provider)):
        assert time.monotonic() < deadline, "a replica still holds the revoked credential"
        assert (await cluster.complete(busy)).choices[0].message.content
        await asyncio.sleep(0.05)
    switched = time.monotonic()

    # The provider itself refuses the old credential: it really was revoked.
    async with httpx.AsyncClient() as client:
        refused = await client.post(
            f"{provider_url(cluster, busy)}/chat/completions",
            headers={"Authorization": revoked},
            json={"model": cluster.model, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert refused.status_code == 400 and "revoked" in refused.text

    for replica in (busy, idle):
        for _ in range(3):
            assert (await cluster.complete(replica)).choices[0].message.content
        late = [c for c in replica.calls if c.at >= switched]
        assert late and all(c.authorization != revoked and c.status == 200 for c in late)
        assert replica.held(cluster.provider) not in (None, revoked)


async def test_a_refused_credential_is_asked_for_again_once(
    cluster: Cluster, start_replica: StartReplica, provider: ProviderProcess
) -> None:
    replica = await start_replica(NEVER)
    await cluster.complete(replica)
    held = replica.held(cluster.provider)

    # Revoked with no refresher to notice: the provider's refusal is what tells the replica.
    await cluster.revoke_all()
    before, calls = cluster.asks(), len(replica.calls)
    answer = await cluster.complete(replica)

    assert answer.choices[0].message.content
    assert cluster.asks() - before == 1
    first, second = replica.calls[calls:]
    assert (first.authorization, first.status) == (held, 400)
    assert second.status == 200 and second.authorization != held
    assert replica.held(cluster.provider) == second.authorization

    # A 401 for a credential the broker issues again unchanged: one ask, then the refusal.
    provider.set_knobs(error_rate=1.0, error_status=401)
    try:
        before, calls = cluster.asks(), len(replica.calls)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await cluster.complete(replica)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert cluster.asks() - before == 1
        assert [c.status for c in replica.calls[calls:]] == [401]
    finally:
        provider.set_knobs(error_rate=0.0, error_status=500)
    before = cluster.asks()
    assert (await cluster.complete(replica)).choices[0].message.content
    assert cluster.asks() == before


def provider_url(cluster: Cluster, replica: Replica) -> str:
    """The provider's OpenAI base URL, as the broker issued it to `replica`."""
    creds = replica.server.engine.broker.cache.held(cluster.provider)
    assert creds is not None
    return creds.endpoint


def test_the_refresh_interval_cannot_break_the_five_second_promise() -> None:
    env = {
        "DATABASE_URL": "postgresql://unused/db",
        **auth_env("inference"),
        "QUOTA_ADDRESS": "127.0.0.1:1",
        "BROKER_ADDRESS": "127.0.0.1:2",
    }
    assert Config.from_env(env).credential_refresh_seconds == 2.0
    assert (
        Config.from_env({**env, "CREDENTIAL_REFRESH_SECONDS": "4"}).credential_refresh_seconds == 4
    )
    with pytest.raises(ConfigError, match="CREDENTIAL_REFRESH_SECONDS must be between"):
        Config.from_env({**env, "CREDENTIAL_REFRESH_SECONDS": "10"})
