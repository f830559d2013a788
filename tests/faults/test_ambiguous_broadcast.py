"""A broadcast whose answer is lost must never become two payments. A JSON-RPC proxy between
the broker and anvil loses the answer of eth_sendRawTransaction past the broker's RPC timeout
(1 s here): the node has the transaction, the broker cannot know it. Deposit and SubmitStorage
retried with the same request_id must mine exactly one transaction each, and the wallet and
the ledger must move once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import grpc
import pytest
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3

from devnet import A0GI
from tests.faults.rpc_proxy import RpcProxy
from tests.retrying import once_done
from tests.stack import Stack
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_grpc import request_ids

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub

T = TypeVar("T")
SEND = "eth_sendRawTransaction"
# What a caller may see while the answer is lost; anything else fails the test.
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@pytest.fixture(scope="module")
async def rpc_proxy(stack: Stack) -> AsyncIterator[RpcProxy]:
    proxy = RpcProxy(stack.devnet.state.rpc_url)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def _broker(stack: Stack, proxy: RpcProxy) -> BrokerServiceAsyncStub:
    await stack.start(
        "broker",
        env={
            "broker": {
                "ZG_RPC_URL": proxy.url,
                "ZG_RPC_TIMEOUT_SECONDS": "1",
                "RECEIPT_TIMEOUT_SECONDS": "20",
            }
        },
    )
    stub: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(
        stack.channels["broker"]
    )
    return stub


async def _until_answered(call: Callable[[float], Awaitable[T]], first_timeout: float) -> T:
    """The caller's loop: retry the same request on retryable errors (at most 5 attempts), and
    after the delay asked while its first attempt still runs (REQUEST_IN_PROGRESS)."""
    timeout = first_timeout
    for _ in range(5):
        try:
            return await once_done(partial(call, timeout))
        except grpc.aio.AioRpcError as error:
            assert error.code() in RETRYABLE, error
        timeout = 30.0
    raise AssertionError("no answer after 5 attempts")


async def _mined_from(
    w3: Web3, address: ChecksumAddress, minimum: int, seconds: float = 20.0
) -> int:
    """The wallet's mined nonce count once it reaches `minimum` (fails after `seconds`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (count := w3.eth.get_transaction_count(address, "latest")) < minimum:
        assert loop.time() < deadline, f"nonce count {count} never reached {minimum}"
        await asyncio.sleep(0.05)
    return count


def _gas_paid(w3: Web3, tx_hash: str) -> int:
    receipt = w3.eth.get_transaction_receipt(HexStr(tx_hash))
    assert receipt["status"] == 1
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


async def _ledger_total(stub: BrokerServiceAsyncStub, stack: Stack) -> int:
    """The ledger's total (created by the module's first test, replayed by the others)."""
    created = await stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=stack.md("broker"),
        timeout=30,
    )
    assert created.receipt.tx_hash
    ledger = await stub.GetLedger(pb.GetLedgerRequest(), metadata=stack.md("broker"), timeout=30)
    return int(ledger.ledger.total_neuron)


def _recorded_as(caller: str, request_id: str) -> str:
    """The request_id a caller's transaction is recorded under at the broker."""
    return request_ids.scoped(caller, request_id)


async def _mined_rows(stack: Stack, purpose: str, request_id: str) -> int:
    count = await stack.pools["broker"].fetchval(
        """
        SELECT count(*) FROM transactions
        WHERE purpose = $1 AND request_id = $2 AND status = 'succeeded'
        """,
        purpose,
        request_id,
    )
    return int(count)


async def _unconfirmed(
    stub: BrokerServiceAsyncStub, stack: Stack, request: pb.DepositRequest
) -> str:
    """Deposit while the broadcast is delivered late: the broker cannot tell it was sent, so
    the caller is told to retry and the transaction stays pending. Returns its hash."""
    with pytest.raises(grpc.aio.AioRpcError) as unsure:
        await stub.Deposit(request, metadata=stack.md("broker"), timeout=30)
    assert unsure.value.code() == grpc.StatusCode.UNAVAILABLE
    signed = await stack.pools["broker"].fetchrow(
        "SELECT tx_hash, status FROM transactions WHERE request_id = $1",
        _recorded_as("admin", request.request_id),
    )
    assert signed is not None and signed["status"] == "pending"
    return str(signed["tx_hash"])


async def test_deposit_whose_reply_is_held_is_mined_once(
    stack: Stack, rpc_proxy: RpcProxy, devnet_w3: Web3
) -> None:
    stub = await _broker(stack, rpc_proxy)
    total = await _ledger_total(stub, stack)
    wallet = stack.wallet.address
    nonce = devnet_w3.eth.get_transaction_count(wallet, "latest")
    balance = devnet_w3.eth.get_balance(wallet)

    # anvil mines the deposit at once; its answer reaches the broker after 3 s, 2 s past the
    # broker's RPC timeout. The caller gives up after 2 s and retries with the same id.
    rpc_proxy.lose_answer(SEND, "hold_reply", 3.0)
    request = pb.DepositRequest(request_id="deposit-held", amount_neuron=str(A0GI))

    async def deposit(deadline: float) -> pb.DepositResponse:
        return await stub.Deposit(request, metadata=stack.md("broker"), timeout=deadline)

    answered = await _until_answered(deposit, 2.0)
    again = await deposit(30.0)

    assert again.receipt.tx_hash == answered.receipt.tx_hash
    assert await _mined_from(devnet_w3, wallet, nonce + 1) == nonce + 1
    assert await _mined_rows(stack, "DEPOSIT", _recorded_as("admin", request.request_id)) == 1
    assert answered.ledger.total_neuron == again.ledger.total_neuron == str(total + A0GI)
    spent = balance - devnet_w3.eth.get_balance(wallet)
    assert spent == A0GI + _gas_paid(devnet_w3, answered.receipt.tx_hash)


async def test_deposit_delivered_after_the_timeout_is_resumed_not_resent(
    stack: Stack, rpc_proxy: RpcProxy, devnet_w3: Web3
) -> None:
    stub = await _broker(stack, rpc_proxy)
    total = await _ledger_total(stub, stack)
    wallet = stack.wallet.address
    nonce = devnet_w3.eth.get_transaction_count(wallet, "latest")

    # The broadcast reaches anvil 2 s late, after the broker's RPC call gave up on it.
    rpc_proxy.lose_answer(SEND, "deliver_late", 2.0)
    request = pb.DepositRequest(request_id="deposit-late", amount_neuron=str(A0GI))
    signed = await _unconfirmed(stub, stack, request)

    # It lands; the retry finds it instead of paying again.
    await _mined_from(devnet_w3, wallet, nonce + 1)
    retried = await stub.Deposit(request, metadata=stack.md("broker"), timeout=30)

    assert retried.receipt.tx_hash == signed
    assert retried.ledger.total_neuron == str(total + A0GI)
    assert devnet_w3.eth.get_transaction_count(wallet, "latest") == nonce + 1
    assert await _mined_rows(stack, "DEPOSIT", _recorded_as("admin", request.request_id)) == 1


async def test_retry_before_the_late_delivery_sends_the_same_transaction(
    stack: Stack, rpc_proxy: RpcProxy, devnet_w3: Web3
) -> None:
    stub = await _broker(stack, rpc_proxy)
    total = await _ledger_total(stub, stack)
    wallet = stack.wallet.address
    nonce = devnet_w3.eth.get_transaction_count(wallet, "latest")

    rpc_proxy.lose_answer(SEND, "deliver_late", 3.0)
    request = pb.DepositRequest(request_id="deposit-resent", amount_neuron=str(A0GI))
    signed = await _unconfirmed(stub, stack, request)

    # Retried while the first broadcast is still on its way: the same signed bytes go out
    # again (same nonce, same hash), so whichever copy arrives first is the only deposit.
    retried = await stub.Deposit(request, metadata=stack.md("broker"), timeout=30)
    await rpc_proxy.delivered()  # the late copy arrives too

    assert retried.receipt.tx_hash == signed
    assert rpc_proxy.seen.count(SEND) >= 3  # ledger, the lost broadcast, the same one again
    assert devnet_w3.eth.get_transaction_count(wallet, "latest") == nonce + 1
    assert retried.ledger.total_neuron == str(total + A0GI)
    assert await _mined_rows(stack, "DEPOSIT", _recorded_as("admin", request.request_id)) == 1


async def test_storage_submission_whose_reply_is_held_pays_the_flow_fee_once(
    stack: Stack, rpc_proxy: RpcProxy, devnet_w3: Web3
) -> None:
    stub = await _broker(stack, rpc_proxy)
    await _ledger_total(stub, stack)
    wallet = stack.wallet.address
    nonce = devnet_w3.eth.get_transaction_count(wallet, "latest")
    balance = devnet_w3.eth.get_balance(wallet)

    rpc_proxy.lose_answer(SEND, "hold_reply", 3.0)
    # One 256-byte chunk: a single node of height 0.
    submission = pb.FlowSubmission(length=256, nodes=[pb.FlowNode(root=b"\x07" * 32, height=0)])
    request = pb.SubmitStorageRequest(request_id="upload-held", submissions=[submission])

    async def submit(deadline: float) -> pb.SubmitStorageResponse:
        return await stub.SubmitStorage(
            request, metadata=stack.md("broker", "storage"), timeout=deadline
        )

    answered = await _until_answered(submit, 2.0)
    again = await submit(30.0)

    assert again.tx_hash == answered.tx_hash and again.tx_seqs == answered.tx_seqs
    assert len(answered.tx_seqs) == 1
    assert await _mined_from(devnet_w3, wallet, nonce + 1) == nonce + 1
    assert (
        await _mined_rows(stack, "STORAGE_SUBMIT", _recorded_as("storage", request.request_id)) == 1
    )
    spent = balance - devnet_w3.eth.get_balance(wallet)
    assert spent == int(answered.fee_neuron) + _gas_paid(devnet_w3, answered.tx_hash)
