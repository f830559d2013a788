"""Two broker servers (own pools, own senders) share one wallet and one database, as replicas
do: concurrent sends from both never reuse a nonce, and every transaction lands."""

from __future__ import annotations

import asyncio

from devnet import A0GI
from tests.broker.conftest import Broker, StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb


async def _deposit(broker: Broker, request_id: str) -> pb.DepositResponse:
    return await broker.stub.Deposit(
        pb.DepositRequest(request_id=request_id, amount_neuron=str(A0GI // 10)),
        metadata=broker.md(),
    )


async def test_two_replicas_one_wallet_no_nonce_reuse(start_broker: StartBroker) -> None:
    first = await start_broker()
    second = await start_broker()
    assert first.account.address == second.account.address
    await first.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=first.md(),
    )

    answers = await asyncio.gather(
        *(
            _deposit(broker, f"{name}-{i}")
            for i in range(12)
            for name, broker in (("a", first), ("b", second))
        )
    )

    assert len({a.receipt.tx_hash for a in answers}) == 24
    ledger = await second.stub.GetLedger(pb.GetLedgerRequest(), metadata=second.md())
    assert ledger.ledger.total_neuron == str(3 * A0GI + 24 * (A0GI // 10))
    rows = await first.pool.fetch("SELECT nonce, status FROM transactions ORDER BY nonce")
    assert [r["nonce"] for r in rows] == list(range(25))
    assert {r["status"] for r in rows} == {"succeeded"}
