"""After a chat (archived to storage: a put) and a scheduler job run, every on-call metric the
seeds name has a sample on the /metrics of the service that owns it (issue 17, acceptance 3).

The five services run in-process through their production server.start() (tests/stack.py), each
with its own registry; `generate_latest` renders it exactly as its /metrics endpoint does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from devnet import Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_providers
from devnet.storage_node import StorageNetwork
from tests.deploy.metric_catalog import EVERY_SERVICE, ON_FAILURE, OWNED
from tests.stack import Stack, stack, stack_db_url  # noqa: F401  (fixtures)
from tests.support import auth_metadata
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.scheduler.v1 import scheduler_service_pb2 as spb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc


@pytest.fixture(scope="module")
def provider(running_devnet: Devnet, deployer: Transactor) -> Iterator[ProviderProcess]:
    (process,) = launch_providers(
        running_devnet.state,
        [ProviderSpec(model=f"metrics-{uuid.uuid4().hex[:8]}", settle_interval=0)],
        deployer,
    )
    yield process
    process.stop()


def scrape(running: Stack, service: str) -> tuple[set[str], set[str]]:
    """(sample names, declared family names) of what the service's /metrics serves."""
    text = generate_latest(running.registries[service]).decode()
    samples: set[str] = set()
    declared: set[str] = set()
    for family in text_string_to_metric_families(text):
        declared.add(family.name)
        samples |= {s.name for s in family.samples}
    return samples, declared


async def test_every_named_metric_has_a_sample_on_its_owner(
    stack: Stack,  # noqa: F811  (the imported fixture)
    storage_network: StorageNetwork,
    provider: ProviderProcess,
) -> None:
    await stack.start("storage", nodes=[n.url for n in storage_network.nodes])
    await stack.start(
        "inference",
        "scheduler",
        providers=[provider],
        env={"inference": {"STORAGE_ADDRESS": stack.address("storage")}},
    )
    sessions = inference_service_pb2_grpc.ChatSessionServiceStub(stack.channels["inference"])
    md = auth_metadata("scheduler", "inference", "meter")
    created = await sessions.CreateChatSession(
        ipb.CreateChatSessionRequest(
            request_id="c", title="metered", model=provider.ready["model"]
        ),
        metadata=md,
    )
    sid = created.session.session_id
    await sessions.SendChatMessage(
        ipb.SendChatMessageRequest(request_id="m", session_id=sid, content="hello"), metadata=md
    )
    # Archiving puts the transcript into storage (PutObject, paid through the broker).
    await sessions.ArchiveChatSession(
        ipb.ArchiveChatSessionRequest(request_id="a", session_id=sid), metadata=md
    )
    scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(stack.channels["scheduler"])
    await scheduler.TriggerJob(
        spb.TriggerJobRequest(request_id="t", name="daily_digest"),
        metadata=auth_metadata("admin", "scheduler"),
    )

    missing: dict[str, set[str]] = {}
    for _ in range(100):  # quota's first sweep and the broker's first balance read are async
        missing = {}
        for service, names in OWNED.items():
            samples, declared = scrape(stack, service)
            absent = set((names | EVERY_SERVICE) - samples)
            absent |= {n.removesuffix("_total") for n in ON_FAILURE.get(service, ())} - declared
            if absent:
                missing[service] = absent
        if not missing:
            break
        await asyncio.sleep(0.1)
    assert missing == {}
    # The values follow the work done: one answer's tokens, one stored upload.
    inference = stack.registries["inference"]
    model = provider.ready["model"]
    tokens = inference.get_sample_value(
        "zerog_compute_tokens_used_total", {"model": model, "kind": "output"}
    )
    assert tokens is not None and tokens > 0
    calls = [
        s.value
        for family in text_string_to_metric_families(generate_latest(inference).decode())
        for s in family.samples
        if s.name == "zerog_compute_requests_total" and s.labels["model"] == model
    ]
    assert calls == [1.0]
    stored = stack.registries["storage"].get_sample_value(
        "zerog_storage_uploads_total", {"result": "stored"}
    )
    assert stored is not None and stored >= 1
