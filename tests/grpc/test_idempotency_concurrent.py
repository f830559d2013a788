"""Twenty concurrent retries with one request_id at an RPC with an outside effect, in each
service: the effect happens once. Every caller gets the first answer, either at once or after
ABORTED REQUEST_IN_PROGRESS with a RetryInfo, retried as it says (tests/retrying.py), which is
what zerog_db.Once promises wherever it is used."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import grpc
import pytest
from web3 import Web3

from devnet import A0GI, Devnet
from devnet.storage_node import StorageNetwork
from tests.broker.conftest import Broker
from tests.inference.conftest import StartInference, Trio
from tests.quota.conftest import StartQuota
from tests.retrying import counting_refusals
from tests.scheduler.conftest import Scheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.storage.conftest import StartStorage
from tests.storage.helpers import (
    content,
    create_namespace,
    flow_submissions,
    namespace_name,
    put,
    rid,
    sealed_bytes,
)
from tests.support import ManualClock
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.scheduler.v1 import scheduler_service_pb2 as spb

CALLS = 20
T = TypeVar("T")


async def twenty(call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """The one answer twenty concurrent callers got, and how many refusals they met."""
    results = await asyncio.gather(*(counting_refusals(call, 120) for _ in range(CALLS)))
    answers = [answer for answer, _ in results]
    assert all(answer == answers[0] for answer in answers)
    return answers[0], sum(refusals for _, refusals in results)


async def test_broker_sends_one_chain_transaction(broker: Broker) -> None:
    await broker.stub.CreateLedger(
        bpb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    request = bpb.DepositRequest(request_id="same-deposit", amount_neuron=str(A0GI))

    answer, refusals = await twenty(lambda: broker.stub.Deposit(request, metadata=broker.md()))

    # A deposit waits for its receipt: the others arrived while it ran.
    assert refusals > 0
    sent = await broker.pool.fetch(
        "SELECT tx_hash, status FROM transactions WHERE purpose = 'DEPOSIT'"
    )
    assert [(r["tx_hash"], r["status"]) for r in sent] == [(answer.receipt.tx_hash, "succeeded")]
    ledger = await broker.stub.GetLedger(bpb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == answer.ledger.total_neuron == str(4 * A0GI)


@pytest.fixture
def slow_cheap(trio: Trio, reset_knobs: None) -> Iterator[None]:
    """The cheap provider answers slowly, so the duplicates arrive while the first runs."""
    trio.cheap.set_knobs(first_token_delay_ms=600)
    yield


async def test_inference_calls_the_provider_once(
    start_inference: StartInference, trio: Trio, slow_cheap: None
) -> None:
    inference = await start_inference(trio.all, REQUEST_RETRY_AFTER_SECONDS="0.2")
    served = trio.cheap.status()["requests_served"]
    request = ipb.ChatCompletionRequest(
        request_id="twenty-at-once",
        subject="user:twenty",
        model=trio.model,
        messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content="one answer for all")],
        max_tokens=16,
        routing=ipb.RoutingOptions(provider=trio.cheap.provider),
    )

    answer, refusals = await twenty(
        lambda: inference.chat.ChatCompletion(request, metadata=inference.md())
    )

    assert answer.choices[0].message.content and refusals > 0
    assert trio.cheap.status()["requests_served"] == served + 1
    assert len(await inference.broker.pool.fetch("SELECT request_id FROM usage")) == 1
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject="user:twenty"), metadata=inference.quota.as_service()
    )
    assert [r.cost_micro_usd for r in records.cost_records] == [answer.cost.cost_micro_usd]


async def test_storage_uploads_once(
    storage_network: StorageNetwork,
    start_storage: StartStorage,
    running_devnet: Devnet,
    devnet_w3: Web3,
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("once"))).name
    data, request_id = content(300_000), rid()
    paid_before = await storage.broker.pool.fetchval("SELECT count(*) FROM transactions")

    answer, refusals = await twenty(lambda: put(storage, ns, "same", data, request_id=request_id))

    assert answer.object.version == 1 and not answer.deduplicated and refusals > 0
    sealed = await sealed_bytes(storage.pool, ns, data)
    assert flow_submissions(devnet_w3, running_devnet.state.contracts.flow, sealed) == 1
    paid = await storage.broker.pool.fetchval("SELECT count(*) FROM transactions")
    assert paid == paid_before + 1
    journal = await storage.pool.fetchrow(
        "SELECT count(*) AS rows, max(attempts) AS attempts FROM uploads WHERE namespace = $1", ns
    )
    assert journal is not None and (journal["rows"], journal["attempts"]) == (1, 1)


async def test_quota_reserves_once(start_quota: StartQuota) -> None:
    budget = 1_000
    replicas = [await start_quota(), await start_quota()]
    await replicas[0].stub.SetSubjectTier(
        qpb.SetSubjectTierRequest(
            subject="tenant:tight", tier="custom", custom_limits=qpb.Limits(compute_tokens=budget)
        ),
        metadata=replicas[0].as_service("admin"),
    )
    request = qpb.ReserveRequest(
        request_id="one-id",
        subject="tenant:tight",
        items=[qpb.UsageItem(unit=qpb.UNIT_COMPUTE_TOKENS, amount=budget)],
    )
    turn = iter(range(CALLS * 100))

    def reserve() -> Awaitable[qpb.ReserveResponse]:
        # Alternate between two replicas sharing the database.
        replica = replicas[next(turn) % 2]
        return replica.stub.Reserve(request, metadata=replica.as_service())

    answer, _ = await twenty(reserve)

    pool = replicas[0].pool
    assert await pool.fetchval("SELECT count(*) FROM reservations") == 1
    reserved = await pool.fetchval(
        "SELECT reserved FROM usage WHERE subject = 'tenant:tight' AND unit = 'compute_tokens'"
    )
    assert reserved == budget
    # The budget fits one reservation: a new request_id is refused, a retry still answered.
    other = qpb.ReserveRequest(request_id="another-id", subject="tenant:tight", items=request.items)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await replicas[1].stub.Reserve(other, metadata=replicas[1].as_service())
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await reserve() == answer


async def test_scheduler_runs_the_job_once(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    await add_user(scheduler, "once", "UTC", webhook_url=f"{receiver.url}/once")
    await push_snapshot(scheduler, "once", clock.now, [("ACME", "2", 11_000_000, 10_000_000)])
    request = spb.TriggerJobRequest(request_id="same-trigger", name="daily_digest")
    admin = scheduler.as_service("admin")

    answer, _ = await twenty(lambda: scheduler.stub.TriggerJob(request, metadata=admin))

    assert answer.run.trigger == spb.RUN_TRIGGER_MANUAL and answer.run.users_total == 1
    runs = await scheduler.pool.fetch("SELECT id, period FROM runs")
    assert [(str(r["id"]), r["period"]) for r in runs] == [(answer.run.id, "manual:same-trigger")]
    clock.now = datetime(2026, 3, 6, 0, 5, tzinfo=UTC)
    await scheduler.tick()
    await scheduler.tick()
    assert await scheduler.pool.fetchval("SELECT count(*) FROM notifications") == 1
    assert await scheduler.pool.fetchval("SELECT count(*) FROM deliveries") == 1
    assert [r.path for r in receiver.accepted()] == ["/once"]
