"""Wallet-signed user flows: GetUserBalance, and InitAccount / Fund (of the user's own transfer) /
GetUserBalance in the EIP-712 form (domain {name "zerog", version "1", chainId}) as well as the
EIP-191 text form."""

from __future__ import annotations

import time

import grpc
import pytest
from eth_account import Account
from google.rpc import error_details_pb2
from web3 import Web3

from devnet import A0GI, Devnet
from tests.broker.conftest import Broker
from tests.wallet_users import WalletUser
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_signing import (
    IntentAction,
    LocalSigner,
    WalletIntent,
    sign_intent_message,
    sign_intent_typed,
)


def _text(signer: LocalSigner, action: IntentAction, amount: int, nonce: str) -> pb.SignedIntent:
    intent = WalletIntent(action, signer.address, int(time.time() * 1000), amount, nonce)
    message, signature = sign_intent_message(signer, intent)
    return pb.SignedIntent(message=message, signature=signature)


def _typed(
    signer: LocalSigner, action: IntentAction, amount: int, nonce: int, chain_id: int
) -> pb.SignedIntent:
    now = int(time.time() * 1000)
    intent = WalletIntent(action, signer.address, now, amount, str(nonce))
    typed = pb.TypedIntent(
        action=action.value,
        address=signer.address,
        amount_neuron=str(amount),
        nonce=str(nonce),
        timestamp_ms=now,
    )
    return pb.SignedIntent(typed=typed, signature=sign_intent_typed(signer, intent, chain_id))


async def _ledger(broker: Broker) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )


async def _refused(call: object, reason: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == reason, info


async def test_get_user_balance_with_text_intents(broker: Broker, devnet_w3: Web3) -> None:
    await _ledger(broker)
    md = broker.md("inference")
    payer = WalletUser.new(devnet_w3)
    user = payer.signer
    stranger = LocalSigner(bytes(Account.create().key))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await broker.stub.GetUserBalance(
            pb.GetUserBalanceRequest(intent=_text(stranger, IntentAction.BALANCE, 0, "b0")),
            metadata=md,
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    await broker.stub.InitAccount(
        pb.InitAccountRequest(
            request_id="init", intent=_text(user, IntentAction.INITIALIZE, 0, "i1")
        ),
        metadata=md,
    )
    await broker.stub.Fund(
        pb.FundRequest(
            request_id="fund",
            intent=_text(user, IntentAction.FUND, A0GI, "f1"),
            tx_hash=payer.pay(broker.account.address, A0GI),
        ),
        metadata=md,
    )
    ask = _text(user, IntentAction.BALANCE, 0, "b1")
    balance = await broker.stub.GetUserBalance(pb.GetUserBalanceRequest(intent=ask), metadata=md)
    assert balance.account.address == user.address
    assert balance.account.funded_neuron == str(A0GI)
    assert balance.account.funded_a0gi == "1"
    assert balance.account.balance_neuron == str(A0GI)
    # The user's deposit is theirs: the platform ledger is as CreateLedger left it.
    assert balance.ledger_available_neuron == str(3 * A0GI)
    # A signed question is good once; another action's intent is not a balance question.
    await _refused(
        broker.stub.GetUserBalance(pb.GetUserBalanceRequest(intent=ask), metadata=md),
        "REPLAYED_NONCE",
    )
    await _refused(
        broker.stub.GetUserBalance(
            pb.GetUserBalanceRequest(intent=_text(user, IntentAction.FUND, A0GI, "f9")),
            metadata=md,
        ),
        "WRONG_ACTION",
    )


async def test_typed_intents_init_fund_and_balance(broker: Broker, running_devnet: Devnet) -> None:
    await _ledger(broker)
    md, chain_id = broker.md("inference"), running_devnet.state.chain_id
    payer = WalletUser.new(running_devnet.web3())
    user = payer.signer

    init = await broker.stub.InitAccount(
        pb.InitAccountRequest(
            request_id="init", intent=_typed(user, IntentAction.INITIALIZE, 0, 1, chain_id)
        ),
        metadata=md,
    )
    assert init.created and init.account.address == user.address
    fund_intent = _typed(user, IntentAction.FUND, 2 * A0GI, 2, chain_id)
    paid = payer.pay(broker.account.address, 2 * A0GI)
    funded = await broker.stub.Fund(
        pb.FundRequest(request_id="fund", intent=fund_intent, tx_hash=paid), metadata=md
    )
    assert funded.amount_neuron == str(2 * A0GI) and funded.receipt.tx_hash == paid
    balance = await broker.stub.GetUserBalance(
        pb.GetUserBalanceRequest(intent=_typed(user, IntentAction.BALANCE, 0, 3, chain_id)),
        metadata=md,
    )
    assert balance.account.funded_neuron == str(2 * A0GI)
    assert balance.ledger_available_neuron == str(3 * A0GI)

    # Refusals move nothing: the same signed intent again; a signature for another chain or an
    # amount changed after signing recovers to another address.
    await _refused(
        broker.stub.Fund(
            pb.FundRequest(request_id="again", intent=fund_intent, tx_hash=paid), metadata=md
        ),
        "REPLAYED_NONCE",
    )
    other_chain = _typed(user, IntentAction.FUND, A0GI, 4, chain_id + 1)
    await _refused(
        broker.stub.Fund(
            pb.FundRequest(request_id="chain", intent=other_chain, tx_hash=paid), metadata=md
        ),
        "ADDRESS_MISMATCH",
    )
    tampered = _typed(user, IntentAction.FUND, A0GI, 5, chain_id)
    tampered.typed.amount_neuron = str(100 * A0GI)
    await _refused(
        broker.stub.Fund(
            pb.FundRequest(request_id="tamper", intent=tampered, tx_hash=paid), metadata=md
        ),
        "ADDRESS_MISMATCH",
    )
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == str(3 * A0GI)
    assert await broker.pool.fetchval("SELECT count(*) FROM user_deposits") == 1
