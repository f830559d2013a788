"""Real parts for inference tests: devnet providers, a broker with a funded ledger, a quota
server, and inference servers started through the production server.start()."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc.aio
import pytest

from devnet import A0GI, Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_providers
from services.inference import server
from services.inference.config import Config
from services.inference.server import InferenceServer
from services.storage import server as storage_server
from services.storage.config import Config as StorageConfig
from tests.broker.conftest import (  # noqa: F401  (fixtures)
    Broker,
    StartBroker,
    broker_db_url,
    broker_template,
    start_broker,
)
from tests.databases import database_fixtures
from tests.quota.conftest import (  # noqa: F401  (fixtures)
    Quota,
    StartQuota,
    clock,
    quota_db_url,
    quota_pool,
    quota_template,
    start_quota,
)
from tests.settlement import settled
from tests.storage.conftest import storage_env
from tests.support import auth_env, auth_metadata
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_db import create_pool, migrate

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import (
        ChatSessionServiceAsyncStub,
        InferenceServiceAsyncStub,
    )
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

SERVICES_DIR = Path(__file__).parents[2] / "services"

inference_template, inference_db_url = database_fixtures(
    "inference", SERVICES_DIR / "inference" / "migrations"
)


@dataclass
class Trio:
    """Three providers of one model: cheap but slow, dear but fast, and in between."""

    model: str
    cheap: ProviderProcess
    fast: ProviderProcess
    middle: ProviderProcess

    @property
    def all(self) -> list[ProviderProcess]:
        return [self.cheap, self.fast, self.middle]


BASE_KNOBS = {"error_rate": 0.0, "outage": "none", "token_delay_ms": 0}


@pytest.fixture(scope="session")
def trio(running_devnet: Devnet, deployer: Transactor) -> Iterator[Trio]:
    """Shared by the session (launching three providers is most of a module's setup); a test
    that changes knobs puts them back (reset_knobs)."""
    model = f"trio-{uuid.uuid4().hex[:8]}"
    specs = [
        ProviderSpec(model=model, settle_interval=0, knobs=knobs)
        for knobs in (
            {"input_price": 1, "output_price": 1, "first_token_delay_ms": 120},
            {"input_price": 9, "output_price": 9, "first_token_delay_ms": 0},
            {"input_price": 5, "output_price": 5, "first_token_delay_ms": 40},
        )
    ]
    cheap, fast, middle = launch_providers(running_devnet.state, specs, deployer)
    yield Trio(model, cheap, fast, middle)
    for p in (cheap, fast, middle):
        p.stop()


@pytest.fixture
def reset_knobs(trio: Trio) -> Iterator[None]:
    yield
    delays = (120, 0, 40)
    for p, delay in zip(trio.all, delays, strict=True):
        p.set_knobs(**BASE_KNOBS, first_token_delay_ms=delay)


async def fund(broker: Broker, providers: list[ProviderProcess]) -> None:
    """A ledger with money, and every provider's TEE signer acknowledged by our wallet."""
    md = broker.md()
    await broker.stub.CreateLedger(
        bpb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(30 * A0GI)),
        metadata=md,
    )
    for p in providers:
        await broker.stub.AcknowledgeProvider(
            bpb.AcknowledgeProviderRequest(request_id=f"ack-{p.provider}", provider=p.provider),
            metadata=md,
        )


def inference_config(database_url: str, quota: Quota, broker: Broker, **overrides: str) -> Config:
    env = {
        "DATABASE_URL": database_url,
        **auth_env("inference"),
        "METRICS_PORT": "0",
        "QUOTA_ADDRESS": f"127.0.0.1:{quota.server.port}",
        "BROKER_ADDRESS": f"127.0.0.1:{broker.server.port}",
        # Backoff in milliseconds: the tests check which statuses are retried, not the waits.
        "RETRY_BASE_SECONDS": "0.01",
        "RETRY_CAP_SECONDS": "0.05",
        "PROVIDER_CACHE_SECONDS": "0",
        # Settlement retries in tens of milliseconds: the tests wait for them.
        "SETTLE_RETRY_BASE_SECONDS": "0.05",
        "SETTLE_RETRY_CAP_SECONDS": "0.5",
        "SETTLE_POLL_SECONDS": "0.1",
        "SETTLE_LINGER_SECONDS": "0.05",
        # The HTTP endpoint is off unless a test asks for it on a free port (start(http=True)).
        "HTTP_PORT": "0",
        **overrides,
    }
    return Config.from_env(env)


class BreakerClock:
    """The breakers' clock, moved by tests to end a cool-down without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Inference:
    """A running inference server with stubs that call it as the scheduler service."""

    server: InferenceServer
    chat: InferenceServiceAsyncStub
    sessions: ChatSessionServiceAsyncStub
    quota: Quota
    broker: Broker
    breaker_clock: BreakerClock
    pool: asyncpg.Pool
    channel: grpc.aio.Channel
    storage: StorageServiceAsyncStub | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def md(self, user: str = "") -> tuple[tuple[str, str], ...]:
        return auth_metadata("scheduler", "inference", user)

    async def settled(self) -> None:
        """Wait until the settler has settled every answer given so far, then give back the
        replica's idle budget leases, so quota holds only what calls in flight reserved."""
        await settled(self.pool)
        if self.server.engine.leases is not None:
            await self.server.engine.leases.return_idle()

    async def verification(self, request_id: str, user: str = "") -> pb.GetVerificationResponse:
        """The TEE check of the answer to `request_id`, once made (10 s at most)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            found = await self.chat.GetVerification(
                pb.GetVerificationRequest(request_id=request_id), metadata=self.md(user)
            )
            if found.verification.status != pb.VERIFICATION_STATUS_PENDING:
                return found
            assert loop.time() < deadline, f"{request_id} still pending after 10 s"
            await asyncio.sleep(0.02)

    @staticmethod
    def storage_md() -> tuple[tuple[str, str], ...]:
        """Storage metadata as inference itself (the archive namespace's owner)."""
        return auth_metadata("inference", "storage")


StartInference = Callable[..., Awaitable[Inference]]


@pytest.fixture
async def start_inference(
    inference_db_url: str,
    start_quota: StartQuota,  # noqa: F811  (the imported fixture)
    start_broker: StartBroker,  # noqa: F811  (the imported fixture)
    running_devnet: Devnet,
    tmp_path: Path,
) -> AsyncIterator[StartInference]:
    """start_inference(providers, storage_nodes=(), now=None, http=False, **env) -> an inference
    server on a fresh broker and quota; with storage_nodes also a storage server (on that broker
    and quota) that inference archives to; `now` is its wall clock (stale-context tests); with
    `http` its OpenAI-compatible endpoint on a free port (server.openai.port)."""
    started: list[Inference] = []
    shared: dict[str, Any] = {}
    closers: list[Callable[[], Awaitable[None]]] = []

    async def start_storage(nodes: Sequence[str], quota: Quota, broker: Broker) -> str:
        env = storage_env(
            inference_db_url,
            nodes,
            f"127.0.0.1:{broker.server.port}",
            f"127.0.0.1:{quota.server.port}",
            tmp_path,
            running_devnet.state.rpc_url,
        )
        # Storage's schema on the same database, for the tests that archive.
        await migrate(inference_db_url, "storage", SERVICES_DIR / "storage" / "migrations")
        pool = await create_pool(inference_db_url, search_path="storage", max_size=10)
        running = await storage_server.start(pool, StorageConfig.from_env(env), "127.0.0.1:0")
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        shared["storage_stub"] = storage_service_pb2_grpc.StorageServiceStub(channel)

        async def close() -> None:
            await channel.close()
            await running.stop(grace=None)
            await pool.close()

        closers.append(close)
        return f"127.0.0.1:{running.port}"

    async def start(
        providers: list[ProviderProcess] | None = None,
        storage_nodes: Sequence[str] = (),
        now: Callable[[], datetime] | None = None,
        http: bool = False,
        **overrides: str,
    ) -> Inference:
        if "quota" not in shared:
            shared["quota"] = await start_quota()
            shared["broker"] = await start_broker(PROVIDER_CACHE_TTL_SECONDS="0.1")
            await fund(shared["broker"], providers or [])
        quota, broker = shared["quota"], shared["broker"]
        if storage_nodes and "storage" not in shared:
            shared["storage"] = await start_storage(storage_nodes, quota, broker)
        if "storage" in shared:
            overrides.setdefault("STORAGE_ADDRESS", shared["storage"])
        pool = await create_pool(inference_db_url, search_path="inference", max_size=10)
        breaker_clock = BreakerClock()
        config = inference_config(inference_db_url, quota, broker, **overrides)
        extra: dict[str, Any] = {"now": now} if now is not None else {}
        if http:
            extra["http_address"] = ("127.0.0.1", 0)
        running = await server.start(
            pool, config, "127.0.0.1:0", breaker_clock=breaker_clock, **extra
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        inference = Inference(
            running,
            inference_service_pb2_grpc.InferenceServiceStub(channel),
            inference_service_pb2_grpc.ChatSessionServiceStub(channel),
            quota,
            broker,
            breaker_clock,
            pool,
            channel,
            shared.get("storage_stub"),
        )
        started.append(inference)
        return inference

    yield start
    for inference in started:
        await inference.channel.close()
        await inference.server.stop(grace=None)
        await inference.pool.close()
    for close in closers:
        await close()
    await asyncio.sleep(0)
