"""Idempotency keys belong to the calling service: two services using the same request_id get
two operations, while the same service retrying gets the replay."""

from __future__ import annotations

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker, StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb


def _usage(provider: str, fee: int) -> pb.RecordUsageRequest:
    return pb.RecordUsageRequest(
        request_id="shared-1",
        provider=provider,
        input_tokens=3,
        output_tokens=4,
        fee_neuron=str(fee),
        chat_id="chat-1",
    )


async def test_record_usage_is_once_per_caller_not_once_per_request_id(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    provider = devnet_provider.provider
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c1", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )

    first = await broker.stub.RecordUsage(_usage(provider, 70), metadata=broker.md("inference"))
    other = await broker.stub.RecordUsage(_usage(provider, 70), metadata=broker.md("scheduler"))
    retried = await broker.stub.RecordUsage(_usage(provider, 70), metadata=broker.md("inference"))

    assert (first.fee_neuron, first.recorded_total_neuron) == ("70", "70")
    assert (other.fee_neuron, other.recorded_total_neuron) == ("70", "140")
    assert retried == first
    rows = await broker.pool.fetch("SELECT fee_neuron FROM usage WHERE request_id = 'shared-1'")
    assert sorted(int(r["fee_neuron"]) for r in rows) == [70, 70]
    total = await broker.pool.fetchval("SELECT total_neuron FROM usage_totals")
    assert int(total) == 140


async def test_deposits_of_two_callers_with_one_request_id_both_move_money(
    start_broker: StartBroker,
) -> None:
    broker = await start_broker(AUTH_ALLOW="Deposit=admin,scheduler")
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c1", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    deposit = pb.DepositRequest(request_id="d1", amount_neuron=str(A0GI))

    by_admin = await broker.stub.Deposit(deposit, metadata=broker.md("admin"))
    by_scheduler = await broker.stub.Deposit(deposit, metadata=broker.md("scheduler"))
    admin_again = await broker.stub.Deposit(deposit, metadata=broker.md("admin"))

    assert by_admin.receipt.tx_hash != by_scheduler.receipt.tx_hash
    assert by_admin.ledger.total_neuron == str(4 * A0GI)
    assert by_scheduler.ledger.total_neuron == str(5 * A0GI)
    assert admin_again == by_admin
    sent = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose = 'DEPOSIT' AND status = 'succeeded'"
    )
    assert sent == 2
