"""Twenty concurrent calls with one request_id at an RPC that sends a chain transaction: the
deposit is made once; every call gets the first answer or ABORTED REQUEST_IN_PROGRESS with a
RetryInfo, and retrying those gets the first answer too."""

from __future__ import annotations

import asyncio

import grpc

from devnet import A0GI
from tests.broker.conftest import Broker
from tests.broker.retrying import in_progress, once_done
from zerog.broker.v1 import broker_service_pb2 as pb


async def test_twenty_concurrent_calls_with_one_request_id_deposit_once(broker: Broker) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    request = pb.DepositRequest(request_id="same-deposit", amount_neuron=str(A0GI))

    async def deposit() -> pb.DepositResponse:
        return await broker.stub.Deposit(request, metadata=broker.md())

    outcomes = await asyncio.gather(*(deposit() for _ in range(20)), return_exceptions=True)

    answers = [o for o in outcomes if isinstance(o, pb.DepositResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(answers) + len(refused) == 20, outcomes
    assert answers and refused
    first = answers[0]
    assert first.receipt.tx_hash and all(a == first for a in answers)
    for error in refused:
        delay = in_progress(error)
        assert delay is not None and delay > 0, error
    retried = await asyncio.gather(*(once_done(deposit) for _ in refused))
    assert all(r == first for r in retried)

    sent = await broker.pool.fetch(
        "SELECT tx_hash, status FROM transactions WHERE purpose = 'DEPOSIT'"
    )
    assert [(r["tx_hash"], r["status"]) for r in sent] == [(first.receipt.tx_hash, "succeeded")]
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == first.ledger.total_neuron == str(4 * A0GI)
    stored = await broker.pool.fetchval(
        "SELECT count(*) FROM idempotency WHERE request_id = $1 AND response IS NOT NULL",
        request.request_id,
    )
    assert stored == 1
