"""Wallet users' real balances (seed 004): Fund credits only the user's own confirmed transfer
to the deposit address, once ever, and moves none of the platform's money; a refused or timed-out
Fund spends nothing and its retry resumes; ChargeUser debits paid calls once, never below zero,
and AuthorizeUser refuses a balance too low before anything is spent."""

from __future__ import annotations

import grpc
import pytest
from eth_account import Account
from google.rpc import error_details_pb2
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI
from tests.broker.conftest import Broker, StartBroker
from tests.wallet_users import WalletUser, deposit, open_account
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_signing import IntentAction

NO_SUCH_TX = "0x" + "ab" * 32


async def _refusal(call: object) -> tuple[grpc.StatusCode, str, grpc.aio.AioRpcError]:
    """The code and ErrorInfo reason of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    return raised.value.code(), info.reason if info is not None else "", raised.value


async def _balance(broker: Broker, user: WalletUser, nonce: str) -> pb.UserAccount:
    answer = await broker.stub.GetUserBalance(
        pb.GetUserBalanceRequest(intent=user.intent(IntentAction.BALANCE, nonce)),
        metadata=broker.md("inference"),
    )
    return answer.account


async def _platform(broker: Broker, w3: Web3) -> tuple[int, int, int]:
    """The platform's money and activity: wallet balance, its nonce, transactions it sent."""
    address = broker.account.address
    sent = await broker.pool.fetchval("SELECT count(*) FROM transactions")
    return w3.eth.get_balance(address), w3.eth.get_transaction_count(address), int(sent)


async def test_a_signature_alone_moves_no_platform_money(broker: Broker, devnet_w3: Web3) -> None:
    md = broker.md("inference")
    user = WalletUser.new(devnet_w3)
    await open_account(broker.stub, md, user)
    before = await _platform(broker, devnet_w3)
    signed = user.intent(IntentAction.FUND, "f1", 5 * A0GI)

    # A signed intent with no payment, or naming a transaction that does not exist.
    code, _, error = await _refusal(
        broker.stub.Fund(pb.FundRequest(request_id="f-none", intent=signed), metadata=md)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(error, error_details_pb2.BadRequest)
    assert bad is not None and [v.field for v in bad.field_violations] == ["tx_hash"]
    code, reason, _ = await _refusal(
        broker.stub.Fund(
            pb.FundRequest(request_id="f-ghost", intent=signed, tx_hash=NO_SUCH_TX), metadata=md
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "DEPOSIT_NOT_FOUND")

    assert await _platform(broker, devnet_w3) == before
    account = await _balance(broker, user, "b1")
    assert (account.funded_neuron, account.balance_neuron) == ("0", "0")
    assert await broker.pool.fetchval("SELECT count(*) FROM user_deposits") == 0


async def test_a_real_transfer_credits_once(broker: Broker, devnet_w3: Web3) -> None:
    md = broker.md("inference")
    user = WalletUser.new(devnet_w3)
    await open_account(broker.stub, md, user)
    wallet_before, nonce_before, sent_before = await _platform(broker, devnet_w3)

    tx_hash = user.pay(broker.account.address, 2 * A0GI)
    request = pb.FundRequest(
        request_id="fund-1", intent=user.intent(IntentAction.FUND, "f1", 2 * A0GI), tx_hash=tx_hash
    )
    funded = await broker.stub.Fund(request, metadata=md)

    assert funded.amount_neuron == str(2 * A0GI)
    assert funded.receipt.tx_hash == tx_hash and funded.receipt.purpose == "USER_DEPOSIT"
    assert funded.confirmations >= 1
    assert funded.account.balance_neuron == str(2 * A0GI)
    # The user's money arrived; the platform sent nothing.
    assert await _platform(broker, devnet_w3) == (
        wallet_before + 2 * A0GI,
        nonce_before,
        sent_before,
    )
    # The retry gets the first answer; the same transfer under another request and intent is
    # refused, and nothing is credited twice.
    assert await broker.stub.Fund(request, metadata=md) == funded
    again = pb.FundRequest(
        request_id="fund-2", intent=user.intent(IntentAction.FUND, "f2", 2 * A0GI), tx_hash=tx_hash
    )
    code, reason, _ = await _refusal(broker.stub.Fund(again, metadata=md))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "DEPOSIT_ALREADY_CREDITED")
    account = await _balance(broker, user, "b1")
    assert (account.funded_neuron, account.spent_neuron, account.balance_neuron) == (
        str(2 * A0GI),
        "0",
        str(2 * A0GI),
    )
    assert account.balance_a0gi == "2"
    # The refused request spent no nonce: f2 still pays for a new transfer.
    more = user.pay(broker.account.address, 2 * A0GI)
    again.request_id, again.tx_hash = "fund-3", more
    assert (await broker.stub.Fund(again, metadata=md)).account.balance_neuron == str(4 * A0GI)


async def test_not_the_users_payment_is_refused_and_spends_nothing(
    broker: Broker, devnet_w3: Web3
) -> None:
    md = broker.md("inference")
    user, stranger = WalletUser.new(devnet_w3), WalletUser.new(devnet_w3)
    await open_account(broker.stub, md, user)
    platform = broker.account.address
    signed = user.intent(IntentAction.FUND, "f1", A0GI)
    elsewhere = Account.create().address
    cases = {
        "DEPOSIT_WRONG_RECIPIENT": user.pay(elsewhere, A0GI),
        "DEPOSIT_WRONG_SENDER": stranger.pay(platform, A0GI),
        "DEPOSIT_WRONG_AMOUNT": user.pay(platform, A0GI // 2),
    }
    before = await _platform(broker, devnet_w3)
    for i, (expected, tx_hash) in enumerate(cases.items()):
        code, reason, error = await _refusal(
            broker.stub.Fund(
                pb.FundRequest(request_id=f"bad-{i}", intent=signed, tx_hash=tx_hash), metadata=md
            )
        )
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, expected)
        failure = unpack_detail(error, error_details_pb2.PreconditionFailure)
        assert failure is not None and failure.violations[0].type == "DEPOSIT"
        assert failure.violations[0].subject == tx_hash
    assert await _platform(broker, devnet_w3) == before
    assert (await _balance(broker, user, "b1")).balance_neuron == "0"

    # Every refusal left the signed intent unspent: with the right transfer it is credited.
    good = pb.FundRequest(request_id="good", intent=signed, tx_hash=user.pay(platform, A0GI))
    assert (await broker.stub.Fund(good, metadata=md)).account.balance_neuron == str(A0GI)


async def test_too_few_confirmations_is_refused_and_the_retry_resumes(
    start_broker: StartBroker, devnet_w3: Web3
) -> None:
    broker = await start_broker(DEPOSIT_CONFIRMATIONS="3", DEPOSIT_WAIT_SECONDS="0")
    md = broker.md("inference")
    user = WalletUser.new(devnet_w3)
    await open_account(broker.stub, md, user)
    tx_hash = user.pay(broker.account.address, A0GI)
    request = pb.FundRequest(
        request_id="fund-1", intent=user.intent(IntentAction.FUND, "f1", A0GI), tx_hash=tx_hash
    )

    code, reason, error = await _refusal(broker.stub.Fund(request, metadata=md))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "DEPOSIT_UNCONFIRMED")
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.metadata["required"] == "3"
    assert int(info.metadata["confirmations"]) < 3
    assert unpack_detail(error, error_details_pb2.RetryInfo) is not None
    assert (await _balance(broker, user, "b1")).balance_neuron == "0"

    devnet_w3.provider.make_request(RPCEndpoint("anvil_mine"), [hex(3)])
    # The same request again: resumed, not refused as a replayed nonce.
    funded = await broker.stub.Fund(request, metadata=md)
    assert funded.account.balance_neuron == str(A0GI) and funded.confirmations >= 3
    assert await broker.stub.Fund(request, metadata=md) == funded


async def test_charges_debit_once_and_never_below_zero(broker: Broker, devnet_w3: Web3) -> None:
    md = broker.md("inference")
    user = WalletUser.new(devnet_w3)
    await open_account(broker.stub, md, user)
    await deposit(broker.stub, md, user, broker.account.address, 3 * A0GI, "f1")

    # The balance is checked before a call: too low is RESOURCE_EXHAUSTED, and nothing spent.
    ask = user.intent(IntentAction.ANALYZE, "a1")
    code, reason, error = await _refusal(
        broker.stub.AuthorizeUser(
            pb.AuthorizeUserRequest(intent=ask, min_balance_neuron=str(4 * A0GI)), metadata=md
        )
    )
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "INSUFFICIENT_BALANCE")
    quota = unpack_detail(error, error_details_pb2.QuotaFailure)
    assert quota is not None and quota.violations[0].subject == f"wallet:{user.address}"
    ok = await broker.stub.AuthorizeUser(
        pb.AuthorizeUserRequest(intent=ask, min_balance_neuron=str(A0GI)), metadata=md
    )
    assert ok.account.balance_neuron == str(3 * A0GI)

    charge = pb.ChargeUserRequest(
        request_id="charge-1", intent=ask, fee_neuron=str(A0GI), usage_id="usage-1"
    )
    first = await broker.stub.ChargeUser(charge, metadata=md)
    assert (first.charged_neuron, first.unpaid_neuron) == (str(A0GI), "0")
    assert first.account.balance_neuron == str(2 * A0GI)
    # Once per usage id; the intent's nonce went with the charge.
    assert await broker.stub.ChargeUser(charge, metadata=md) == first
    code, reason, _ = await _refusal(
        broker.stub.ChargeUser(
            pb.ChargeUserRequest(
                request_id="charge-2", intent=ask, fee_neuron="1", usage_id="usage-2"
            ),
            metadata=md,
        )
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "REPLAYED_NONCE")

    # A fee above the balance takes the balance to zero, not below.
    big = pb.ChargeUserRequest(
        request_id="charge-3",
        usage_id="usage-3",
        intent=user.intent(IntentAction.ANALYZE, "a2"),
        fee_neuron=str(5 * A0GI),
    )
    drained = await broker.stub.ChargeUser(big, metadata=md)
    assert (drained.charged_neuron, drained.unpaid_neuron) == (str(2 * A0GI), str(3 * A0GI))
    account = await _balance(broker, user, "b1")
    assert (account.funded_neuron, account.spent_neuron, account.balance_neuron) == (
        str(3 * A0GI),
        str(3 * A0GI),
        "0",
    )
    code, reason, _ = await _refusal(
        broker.stub.AuthorizeUser(
            pb.AuthorizeUserRequest(intent=user.intent(IntentAction.ANALYZE, "a3")), metadata=md
        )
    )
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "INSUFFICIENT_BALANCE")
