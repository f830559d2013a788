"""Issue 20 point 5: the scheduler keeps the summaries it generates on 0G Storage (a real storage
service on the devnet's chain and a devnet storage node) and links them from the delivery
records; a retry stores nothing twice; a storage outage never holds a delivery back."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import pytest
from prometheus_client import Counter

from devnet.storage_node import StorageNetwork
from tests.scheduler.conftest import Scheduler, StartScheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.stack import Stack, stack, stack_db_url  # noqa: F401  (fixtures)
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2 as spb
from zerog.storage.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

EIGHT_UTC = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)


@pytest.fixture
async def storage(
    stack: Stack,  # noqa: F811  (the imported fixture)
    storage_network: StorageNetwork,
) -> Stack:
    """The module stack's storage service (with its broker and quota) on the devnet's nodes."""
    return await stack.start("storage", nodes=[n.url for n in storage_network.nodes])


def _storage_stub(running: Stack) -> StorageServiceAsyncStub:
    return storage_service_pb2_grpc.StorageServiceStub(running.channels["storage"])


async def _deliveries(scheduler: Scheduler, user_id: str) -> list[pb.Delivery]:
    response = await scheduler.stub.ListDeliveries(
        pb.ListDeliveriesRequest(user_id=user_id), metadata=scheduler.as_service()
    )
    return list(response.deliveries)


async def _digest_user(scheduler: Scheduler, user_id: str, receiver: WebhookReceiver) -> None:
    await add_user(scheduler, user_id, "UTC", webhook_url=f"{receiver.url}/{user_id}")
    await push_snapshot(
        scheduler, user_id, EIGHT_UTC.replace(hour=7), [("ACME", "3", 2_000_000, 1_900_000)]
    )


async def _object_bytes(running: Stack, link: pb.StoredObject) -> bytes:
    """The object's bytes as GetObject returns them (read as the scheduler, its owner)."""
    request = spb.GetObjectRequest(namespace=link.namespace, name=link.name, version=link.version)
    parts = _storage_stub(running).GetObject(
        request, metadata=running.md("storage", "scheduler"), timeout=60
    )
    return b"".join([part.chunk async for part in parts if part.WhichOneof("part") == "chunk"])


def _count(counter: Counter, **labels: str) -> float:
    """A counter's value for `labels` (0 if never incremented)."""
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def _closed_address() -> str:
    """An address where nothing listens: a storage service that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def test_summary_is_stored_and_linked_and_a_retry_stores_nothing_twice(
    storage: Stack,
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    scheduler = await start_scheduler(STORAGE_ADDRESS=storage.address("storage"))
    await _digest_user(scheduler, "sam", receiver)
    clock.now = EIGHT_UTC
    await scheduler.tick()

    [delivery] = await _deliveries(scheduler, "sam")
    [received] = receiver.accepted()
    assert delivery.state == pb.DELIVERY_STATE_SENT and received.body["body"] == delivery.body
    assert delivery.summary_storage == pb.SUMMARY_STORAGE_STORED
    link = delivery.summary_object
    assert (link.namespace, link.name) == (
        "ai-summaries",
        "users/sam/daily_digest/2026-03-06T08:00.txt",
    )
    assert link.version >= 1 and link.root.startswith("0x")
    assert await _object_bytes(storage, link) == delivery.body.encode()
    metrics = scheduler.server.metrics
    assert _count(metrics.summaries_stored) == 1 and _count(metrics.summary_store_failures) == 0

    # A crash after the put and before its record: the summary is due again and the retry,
    # with the same request_id and bytes, gets the first version back and pays nothing more.
    paid = await storage.pools["broker"].fetchval("SELECT count(*) FROM transactions")
    await db.execute(
        "UPDATE notifications SET summary_state = 'pending', summary_retry_at = $1", clock.now
    )
    await db.execute("UPDATE deliveries SET summary_name = '', summary_version = 0")
    assert (await _deliveries(scheduler, "sam"))[0].summary_storage == pb.SUMMARY_STORAGE_PENDING
    await scheduler.tick()

    [again] = await _deliveries(scheduler, "sam")
    assert again.summary_storage == pb.SUMMARY_STORAGE_STORED and again.summary_object == link
    listed = await _storage_stub(storage).ListObjects(
        spb.ListObjectsRequest(namespace="ai-summaries", prefix="users/sam/", all_versions=True),
        metadata=storage.md("storage", "scheduler"),
    )
    assert [(o.name, o.version) for o in listed.objects] == [(link.name, link.version)]
    assert await storage.pools["broker"].fetchval("SELECT count(*) FROM transactions") == paid
    assert len(receiver.accepted()) == 1  # and the delivery was not sent again


async def test_storage_down_still_delivers_and_a_later_retry_stores(
    storage: Stack,
    start_scheduler: StartScheduler,
    receiver: WebhookReceiver,
    clock: ManualClock,
) -> None:
    down = await start_scheduler(STORAGE_ADDRESS=_closed_address())
    await _digest_user(down, "dana", receiver)
    clock.now = EIGHT_UTC
    await down.tick()

    [delivery] = await _deliveries(down, "dana")
    assert delivery.state == pb.DELIVERY_STATE_SENT
    assert [r.path for r in receiver.accepted()] == ["/dana"]
    assert delivery.summary_storage == pb.SUMMARY_STORAGE_PENDING
    assert not delivery.HasField("summary_object")
    assert _count(down.server.metrics.summary_store_failures, code="UNAVAILABLE") == 1

    # Not due again before its backoff (SCHEDULER_RETRY_BASE_SECONDS=30 in these tests).
    await down.tick()
    assert _count(down.server.metrics.summary_store_failures) == 1

    # A replica that reaches storage picks the pending summary up once it is due.
    up = await start_scheduler(STORAGE_ADDRESS=storage.address("storage"))
    await up.tick()
    assert (await _deliveries(up, "dana"))[0].summary_storage == pb.SUMMARY_STORAGE_PENDING
    clock.advance(seconds=30)
    await up.tick()

    [stored] = await _deliveries(up, "dana")
    assert stored.summary_storage == pb.SUMMARY_STORAGE_STORED
    assert await _object_bytes(storage, stored.summary_object) == stored.body.encode()
    assert len(receiver.accepted()) == 1


async def test_without_storage_the_delivery_says_the_summary_is_not_kept(
    start_scheduler: StartScheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    scheduler = await start_scheduler()
    await _digest_user(scheduler, "nia", receiver)
    clock.now = EIGHT_UTC
    await scheduler.tick()

    [delivery] = await _deliveries(scheduler, "nia")
    assert delivery.state == pb.DELIVERY_STATE_SENT
    assert delivery.summary_storage == pb.SUMMARY_STORAGE_NOT_CONFIGURED
    assert not delivery.HasField("summary_object")


async def test_storage_down_costs_a_tick_one_batch_of_summaries(
    start_scheduler: StartScheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    # Batches of one: the dead storage gets one attempt per tick, and every delivery goes out.
    scheduler = await start_scheduler(STORAGE_ADDRESS=_closed_address(), DELIVERY_BATCH_SIZE="1")
    for user_id in ("ann", "bo"):
        await _digest_user(scheduler, user_id, receiver)
    clock.now = EIGHT_UTC
    await scheduler.tick()

    assert sorted(r.path for r in receiver.accepted()) == ["/ann", "/bo"]
    failures = scheduler.server.metrics.summary_store_failures
    assert _count(failures) == 1
    await scheduler.tick()  # the other summary, never tried yet, is still due
    assert _count(failures) == 2
    for user_id in ("ann", "bo"):
        [delivery] = await _deliveries(scheduler, user_id)
        assert delivery.summary_storage == pb.SUMMARY_STORAGE_PENDING
