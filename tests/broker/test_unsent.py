"""A broker that died between recording a transaction and broadcasting it: the pending row
holds a nonce the node never saw. The next send must reuse that nonce (not stall behind a
gap), the row must end 'failed' with 'not sent', and a retry of its request must send anew."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import A0GI, Devnet
from tests.broker.conftest import Broker, StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb

# Receipts arrive at once on the automining devnet; a stalled send fails fast instead of
# holding the suite for the default minute.
_FAST = {"RECEIPT_TIMEOUT_SECONDS": "15"}


async def _crash_before_broadcast(
    broker: Broker, devnet: Devnet, w3: Web3, purpose: str, request_id: str
) -> tuple[str, int]:
    """Leave what a crash between record and send_raw_transaction leaves: a 'pending' row
    with the next nonce and the hash of a signed transaction the node never received."""
    account: LocalAccount = broker.account
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    tx: dict[str, Any] = {
        "to": account.address,
        "value": 0,
        "nonce": nonce,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "chainId": devnet.state.chain_id,
    }
    tx_hash = "0x" + bytes(account.sign_transaction(tx).hash).hex()
    await broker.pool.execute(
        """
        INSERT INTO transactions (tx_hash, purpose, request_id, sender, to_address, nonce,
            value_neuron, gas_limit, status)
        VALUES ($1, $2, $3, $4, $4, $5, 0, 21000, 'pending')
        """,
        tx_hash,
        purpose,
        request_id,
        account.address,
        nonce,
    )
    return tx_hash, nonce


async def _row(broker: Broker, tx_hash: str) -> tuple[str, str]:
    row = await broker.pool.fetchrow(
        "SELECT status, error FROM transactions WHERE tx_hash = $1", tx_hash
    )
    assert row is not None
    return row["status"], row["error"]


async def test_next_send_reuses_the_nonce_of_a_transaction_never_sent(
    start_broker: StartBroker, running_devnet: Devnet, devnet_w3: Web3
) -> None:
    broker = await start_broker(**_FAST)
    stale, nonce = await _crash_before_broadcast(
        broker, running_devnet, devnet_w3, "DEPOSIT", "deposit-lost"
    )

    created = await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )

    mined = devnet_w3.eth.get_transaction_receipt(created.receipt.tx_hash)  # type: ignore[arg-type]
    assert mined["status"] == 1
    assert devnet_w3.eth.get_transaction(created.receipt.tx_hash)["nonce"] == nonce  # type: ignore[arg-type]
    assert created.ledger.total_neuron == str(3 * A0GI)
    assert await _row(broker, stale) == ("failed", "not sent")

    # The lost request's retry finds no live transaction and deposits for real.
    retried = await broker.stub.Deposit(
        pb.DepositRequest(request_id="deposit-lost", amount_neuron=str(A0GI)),
        metadata=broker.md(),
    )
    assert retried.receipt.tx_hash != stale
    assert devnet_w3.eth.get_transaction_receipt(retried.receipt.tx_hash)["status"] == 1  # type: ignore[arg-type]
    assert retried.ledger.total_neuron == str(4 * A0GI)
    statuses = await broker.pool.fetch(
        "SELECT nonce, status FROM transactions WHERE status <> 'failed' ORDER BY nonce"
    )
    assert [(r["nonce"], r["status"]) for r in statuses] == [
        (nonce, "succeeded"),
        (nonce + 1, "succeeded"),
    ]


async def test_retry_of_a_request_whose_transaction_was_never_sent_sends_anew(
    start_broker: StartBroker, running_devnet: Devnet, devnet_w3: Web3
) -> None:
    broker = await start_broker(**_FAST)
    stale, nonce = await _crash_before_broadcast(
        broker, running_devnet, devnet_w3, "CREATE_LEDGER", "ledger-lost"
    )

    # The retry comes before any other send: it must not wait for a receipt that never comes.
    created = await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger-lost", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )

    assert created.receipt.tx_hash != stale
    assert devnet_w3.eth.get_transaction_receipt(created.receipt.tx_hash)["status"] == 1  # type: ignore[arg-type]
    assert devnet_w3.eth.get_transaction(created.receipt.tx_hash)["nonce"] == nonce  # type: ignore[arg-type]
    assert created.ledger.total_neuron == str(3 * A0GI)
    assert await _row(broker, stale) == ("failed", "not sent")
    replayed = await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger-lost", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    assert replayed.receipt.tx_hash == created.receipt.tx_hash
