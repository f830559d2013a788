"""End to end with the real inference service (over the real broker and quota, a devnet provider
on the local chain): a daily digest's narrative is the model's answer, not flagged degraded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devnet import Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_providers
from devnet.provider.model import _VOCABULARY
from tests.scheduler.conftest import StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.stack import Stack, stack, stack_db_url  # noqa: F401  (fixtures)
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb


@pytest.fixture(scope="module")
def model() -> str:
    return f"digest-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def provider(running_devnet: Devnet, deployer: Transactor, model: str) -> Iterator[ProviderProcess]:
    spec = ProviderSpec(model=model, settle_interval=0)
    [started] = launch_providers(running_devnet.state, [spec], deployer)
    yield started
    started.stop()


async def test_digest_narrative_comes_from_the_model(
    stack: Stack,  # noqa: F811  (the imported fixture)
    provider: ProviderProcess,
    model: str,
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
) -> None:
    await stack.start("inference", providers=[provider])
    scheduler = await start_scheduler(
        INFERENCE_ADDRESS=stack.address("inference"), INFERENCE_MODEL=model
    )
    await add_user(scheduler, "erin", "UTC", webhook_url=f"{receiver.url}/erin")
    await push_snapshot(scheduler, "erin", clock.now, [("ACME", "1", 2_000_000, 1_000_000)])
    clock.now = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
    await scheduler.tick()

    [received] = receiver.accepted()
    assert received.body["degraded"] is False
    facts, _, narrative = received.body["body"].partition("\n\n")
    assert facts.startswith("Portfolio value: $2.00\nToday: +$1.00 (+100.00%)")
    # The devnet model answers with words of its vocabulary, derived from the prompt.
    assert narrative and set(narrative.split()) <= set(_VOCABULARY)
    assert "unavailable" not in received.body["body"]
    [run] = (
        await scheduler.stub.ListRuns(pb.ListRunsRequest(), metadata=scheduler.as_service())
    ).runs
    assert (run.users_done, run.degraded) == (1, 0)
