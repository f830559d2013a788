"""RetrieveFunds (sub-account -> pending refund -> ledger after the lock time) and Refund
(ledger -> wallet) on the devnet, each idempotent per request_id."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


async def _ledger(broker: Broker, amount: int) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(amount)),
        metadata=broker.md(),
    )


async def test_retrieve_funds_requests_then_collects_the_refund(
    broker: Broker, devnet_provider: ProviderProcess, running_devnet: Devnet, devnet_w3: Web3
) -> None:
    md, provider = broker.md(), devnet_provider.provider
    await _ledger(broker, 10 * A0GI)
    await broker.stub.TransferToProvider(
        pb.TransferToProviderRequest(
            request_id="t", provider=provider, amount_neuron=str(3 * A0GI)
        ),
        metadata=md,
    )

    first = await broker.stub.RetrieveFunds(
        pb.RetrieveFundsRequest(request_id="r1", providers=[provider]), metadata=md
    )
    assert first.receipt.purpose == "RETRIEVE" and first.receipt.tx_hash
    sub = {s.provider: s for s in first.ledger.sub_accounts}[provider]
    # Requested, still locked in the sub-account until the lock time passes.
    assert (sub.balance_neuron, sub.pending_refund_neuron, sub.locked_neuron) == (
        str(3 * A0GI),
        str(3 * A0GI),
        "0",
    )
    assert first.ledger.available_neuron == str(7 * A0GI)
    replay = await broker.stub.RetrieveFunds(
        pb.RetrieveFundsRequest(request_id="r1", providers=[provider]), metadata=md
    )
    assert replay.receipt.tx_hash == first.receipt.tx_hash

    # From a thread: a blocking web3 call on the loop's thread can deadlock with the broker's
    # AsyncWeb3 session cache.
    jump = [running_devnet.state.lock_time + 1]
    await asyncio.to_thread(devnet_w3.provider.make_request, RPCEndpoint("evm_increaseTime"), jump)
    await asyncio.to_thread(devnet_w3.provider.make_request, RPCEndpoint("evm_mine"), [])
    # An empty list means every provider the ledger has a sub-account with.
    second = await broker.stub.RetrieveFunds(pb.RetrieveFundsRequest(request_id="r2"), metadata=md)
    sub = {s.provider: s for s in second.ledger.sub_accounts}[provider]
    assert (sub.balance_neuron, sub.pending_refund_neuron) == ("0", "0")
    assert second.ledger.available_neuron == str(10 * A0GI)
    assert second.ledger.total_neuron == str(10 * A0GI)
    retrieves = await broker.pool.fetch(
        "SELECT status FROM transactions WHERE purpose = 'RETRIEVE' ORDER BY nonce"
    )
    assert [r["status"] for r in retrieves] == ["succeeded", "succeeded"]


async def test_refund_moves_ledger_funds_back_to_the_wallet(broker: Broker) -> None:
    md = broker.md()
    await _ledger(broker, 10 * A0GI)
    before = int((await broker.stub.GetWallet(pb.GetWalletRequest(), metadata=md)).balance_neuron)

    refunded = await broker.stub.Refund(
        pb.RefundRequest(request_id="f1", amount_neuron=str(4 * A0GI)), metadata=md
    )
    assert refunded.ledger.total_neuron == str(6 * A0GI)
    assert refunded.ledger.available_neuron == str(6 * A0GI)
    after = int((await broker.stub.GetWallet(pb.GetWalletRequest(), metadata=md)).balance_neuron)
    gas = refunded.receipt.gas_used * int(refunded.receipt.effective_gas_price_neuron)
    assert after - before == 4 * A0GI - gas

    replay = await broker.stub.Refund(
        pb.RefundRequest(request_id="f1", amount_neuron=str(4 * A0GI)), metadata=md
    )
    assert replay.receipt.tx_hash == refunded.receipt.tx_hash
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=md)
    assert ledger.ledger.total_neuron == str(6 * A0GI)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.Refund(
            pb.RefundRequest(request_id="f2", amount_neuron=str(50 * A0GI)), metadata=md
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "CONTRACT_REVERTED"
    assert info.metadata["error"].startswith("Insufficient"), info.metadata
    refunds = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose = 'REFUND'"
    )
    assert refunds == 1
