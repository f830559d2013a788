"""Acceptance 2, 3 and 5: concurrent credentials and deposits, auto top-up over 200 calls,
wallet-signed Fund refusals that move nothing."""

from __future__ import annotations

import asyncio
import itertools
import time

import grpc
import httpx
import pytest
from eth_account import Account
from google.rpc import error_details_pb2
from web3 import Web3

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from tests.wallet_users import WalletUser
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_signing import (
    IntentAction,
    LocalSigner,
    WalletIntent,
    parse_session_header,
    sign_intent_message,
)


async def _ready(broker: Broker, provider: str, ledger: int) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(ledger)),
        metadata=broker.md(),
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=broker.md()
    )


async def test_fifty_concurrent_credentials_one_top_up_at_most(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    provider = devnet_provider.provider
    await _ready(broker, provider, 10 * A0GI)  # the 1 A0GI first transfer is below the floor

    answers = await asyncio.gather(
        *(
            broker.stub.GetRequestCredentials(
                pb.GetRequestCredentialsRequest(provider=provider), metadata=broker.md("inference")
            )
            for _ in range(50)
        )
    )

    top_ups = await broker.pool.fetchval("SELECT count(*) FROM top_ups")
    assert top_ups <= 1
    transfers = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose IN ('TOP_UP', 'TRANSFER')"
    )
    assert transfers <= 2  # the acknowledgement's first transfer + at most one top-up
    # One cached session token serves everyone, and the provider accepts it.
    assert len({a.authorization for a in answers}) == 1
    assert parse_session_header(answers[0].authorization).token.address == broker.account.address
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{answers[0].endpoint}/chat/completions",
            json={"model": answers[0].model, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": answers[0].authorization},
        )
    assert reply.status_code == 200, reply.text


async def test_twenty_concurrent_deposits_all_land(broker: Broker) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    answers = await asyncio.gather(
        *(
            broker.stub.Deposit(
                pb.DepositRequest(request_id=f"d{i}", amount_neuron=str(A0GI)),
                metadata=broker.md(),
            )
            for i in range(20)
        )
    )
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == str(23 * A0GI)
    replay = await broker.stub.Deposit(
        pb.DepositRequest(request_id="d0", amount_neuron=str(A0GI)), metadata=broker.md()
    )
    assert replay == answers[0]  # the first answer, and nothing sent again:
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == str(23 * A0GI)


async def test_auto_top_up_over_two_hundred_calls(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    provider = devnet_provider.provider
    await _ready(broker, provider, 40 * A0GI)
    fee = A0GI // 20

    async def call(i: int) -> pb.RecordUsageResponse:
        return await broker.stub.RecordUsage(
            pb.RecordUsageRequest(
                request_id=f"u{i}", provider=provider, fee_neuron=str(fee), input_tokens=1
            ),
            metadata=broker.md("inference"),
        )

    for start in range(0, 200, 10):
        await asyncio.gather(*(call(i) for i in range(start, start + 10)))
        got = await broker.stub.GetProvider(
            pb.GetProviderRequest(provider=provider), metadata=broker.md()
        )
        unsettled = (start + 10) * fee
        assert int(got.sub_account.locked_neuron) >= unsettled + A0GI  # the provider's floor

    rows = await broker.pool.fetch("SELECT * FROM top_ups ORDER BY started_at")
    assert rows and all(r["error"] == "" and r["tx_hash"] for r in rows)
    # Every top-up was needed when it ran, and none overlapped another.
    assert all(r["locked_before"] < r["required"] for r in rows)
    for earlier, later in itertools.pairwise(rows):
        assert earlier["finished_at"] <= later["started_at"]
    recorded = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose = 'TOP_UP' AND status = 'succeeded'"
    )
    assert recorded == len(rows)


def _fund(signer: LocalSigner, amount: int, timestamp_ms: int, nonce: str) -> pb.SignedIntent:
    intent = WalletIntent(IntentAction.FUND, signer.address, timestamp_ms, amount, nonce)
    message, signature = sign_intent_message(signer, intent)
    return pb.SignedIntent(message=message, signature=signature)


async def test_wallet_signed_fund_refusals_move_nothing(broker: Broker, devnet_w3: Web3) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    payer = WalletUser.new(devnet_w3)
    user = payer.signer
    now = int(time.time() * 1000)
    init_intent = WalletIntent(IntentAction.INITIALIZE, user.address, now, 0, "i1")
    message, signature = sign_intent_message(user, init_intent)
    await broker.stub.InitAccount(
        pb.InitAccountRequest(
            request_id="init", intent=pb.SignedIntent(message=message, signature=signature)
        ),
        metadata=broker.md("inference"),
    )
    good = _fund(user, A0GI, now, "f1")
    paid = payer.pay(broker.account.address, A0GI)
    funded = await broker.stub.Fund(
        pb.FundRequest(request_id="fund1", intent=good, tx_hash=paid),
        metadata=broker.md("inference"),
    )
    assert funded.account.funded_neuron == str(A0GI)

    other = LocalSigner(bytes(Account.create().key))
    forged = _fund(other, A0GI, now, "f2")
    forged.message = forged.message.replace(other.address, user.address)
    cases = {
        "BAD_SIGNATURE": forged,  # a signature by someone else over the user's intent
        "REPLAYED_NONCE": good,  # the same signed intent again, under a new request_id
        "STALE_TIMESTAMP": _fund(user, A0GI, now - 3_600_000, "f3"),
    }
    for i, (reason, intent) in enumerate(cases.items()):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await broker.stub.Fund(
                pb.FundRequest(request_id=f"bad{i}", intent=intent, tx_hash=paid),
                metadata=broker.md("inference"),
            )
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
        assert info is not None and info.reason in (reason, "ADDRESS_MISMATCH"), info

    # Fund never moves the platform's money: the ledger is as created, and nothing was sent
    # but the ledger's creation.
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.total_neuron == str(3 * A0GI)
    assert await broker.pool.fetchval("SELECT count(*) FROM transactions") == 1
    assert await broker.pool.fetchval("SELECT count(*) FROM user_deposits") == 1
