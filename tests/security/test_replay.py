"""Replays and misuse of signed things: a wallet intent used twice, too old, from the future or
signed by another wallet than it names is refused with its typed reason and moves nothing; a
provider refuses a session token issued for another provider, and a revoked API key."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import grpc
import httpx
import pytest
from eth_account import Account
from google.rpc import error_details_pb2

from devnet import A0GI
from devnet.provider import ProviderProcess
from tests.broker.conftest import Broker
from tests.security.tables import row_counts
from tests.stack import Stack
from tests.wallet_users import WalletUser
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_signing import IntentAction, LocalSigner, WalletIntent, sign_intent_message

HOUR_MS = 3600 * 1000


def _signed(
    signer: LocalSigner,
    action: IntentAction,
    nonce: str,
    amount: int = 0,
    *,
    address: str | None = None,
    shift_ms: int = 0,
) -> pb.SignedIntent:
    """An EIP-191 intent naming `address` (default: the signer's), `shift_ms` off now."""
    when = int(time.time() * 1000) + shift_ms
    intent = WalletIntent(action, address or signer.address, when, amount, nonce)
    message, signature = sign_intent_message(signer, intent)
    return pb.SignedIntent(message=message, signature=signature)


def _wallet() -> LocalSigner:
    return LocalSigner(bytes(Account.create().key))


async def _reason(call: Awaitable[object]) -> str:
    """The ErrorInfo reason of a call that must be refused as UNAUTHENTICATED."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED, raised.value
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None, raised.value
    return str(info.reason)


async def _snapshot(stack: Stack, broker: Broker) -> tuple[object, ...]:
    """Everything a refused intent must leave alone: ledger, every broker table's rows, the
    accounts' funded amounts and the platform wallet's chain balance."""
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    funded = await broker.pool.fetch("SELECT * FROM user_accounts ORDER BY 1")
    wallet = stack.devnet.web3().eth.get_balance(broker.account.address)
    return (
        ledger,
        [tuple(r) for r in funded],
        wallet,
        await row_counts(stack.database_url, ["broker"]),
    )


async def test_refused_intents_move_nothing(stack: Stack, devnet_provider: ProviderProcess) -> None:
    await stack.start("broker", providers=[devnet_provider])
    broker = stack.broker()
    md = stack.md("broker", "inference")
    payer = WalletUser.new(stack.devnet.web3())
    user = payer.signer
    init = _signed(user, IntentAction.INITIALIZE, "init-1")
    await broker.stub.InitAccount(pb.InitAccountRequest(request_id="i1", intent=init), metadata=md)
    fund = _signed(user, IntentAction.FUND, "fund-1", A0GI)
    first = payer.pay(broker.account.address, A0GI)
    await broker.stub.Fund(pb.FundRequest(request_id="f1", intent=fund, tx_hash=first), metadata=md)
    # A second real payment, not yet credited: every refusal below names it.
    paid = payer.pay(broker.account.address, A0GI)
    before = await _snapshot(stack, broker)

    def funds(intent: pb.SignedIntent, request_id: str) -> Awaitable[object]:
        return broker.stub.Fund(
            pb.FundRequest(request_id=request_id, intent=intent, tx_hash=paid), metadata=md
        )

    def inits(intent: pb.SignedIntent, request_id: str) -> Awaitable[object]:
        return broker.stub.InitAccount(
            pb.InitAccountRequest(request_id=request_id, intent=intent), metadata=md
        )

    stranger = _wallet()
    attempts: dict[
        str, tuple[Callable[[pb.SignedIntent, str], Awaitable[object]], pb.SignedIntent, str]
    ] = {
        # The same signed intent under a new request_id: the nonce is spent.
        "fund replayed": (funds, fund, "REPLAYED_NONCE"),
        "init replayed": (inits, init, "REPLAYED_NONCE"),
        # A fresh signature reusing a spent nonce is a replay too.
        "fund nonce reused": (
            funds,
            _signed(user, IntentAction.FUND, "fund-1", A0GI),
            "REPLAYED_NONCE",
        ),
        "fund stale": (
            funds,
            _signed(user, IntentAction.FUND, "stale", A0GI, shift_ms=-HOUR_MS),
            "STALE_TIMESTAMP",
        ),
        "init stale": (
            inits,
            _signed(stranger, IntentAction.INITIALIZE, "stale", shift_ms=-HOUR_MS),
            "STALE_TIMESTAMP",
        ),
        "fund future": (
            funds,
            _signed(user, IntentAction.FUND, "future", A0GI, shift_ms=HOUR_MS),
            "FUTURE_TIMESTAMP",
        ),
        "init future": (
            inits,
            _signed(stranger, IntentAction.INITIALIZE, "future", shift_ms=HOUR_MS),
            "FUTURE_TIMESTAMP",
        ),
        # Signed by a stranger in the user's name: money must not move from the user's account.
        "fund by another wallet": (
            funds,
            _signed(stranger, IntentAction.FUND, "forged", A0GI, address=user.address),
            "ADDRESS_MISMATCH",
        ),
        "init by another wallet": (
            inits,
            _signed(stranger, IntentAction.INITIALIZE, "forged", address=_wallet().address),
            "ADDRESS_MISMATCH",
        ),
    }
    wrong = []
    for name, (rpc, intent, expected) in attempts.items():
        reason = await _reason(rpc(intent, "req-" + name.replace(" ", "-")))
        if reason != expected:
            wrong.append(f"{name}: {reason}, expected {expected}")
    assert wrong == []
    assert await _snapshot(stack, broker) == before

    # The refusals burnt nothing: the stale/future/forged nonces are still usable by the owner.
    again = _signed(user, IntentAction.FUND, "forged", A0GI)
    funded = await broker.stub.Fund(
        pb.FundRequest(request_id="f2", intent=again, tx_hash=paid), metadata=md
    )
    assert funded.account.funded_neuron == str(2 * A0GI)


async def _chat(url: str, model: str, authorization: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{url.rstrip('/')}/v1/proxy/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": authorization},
        )


async def test_providers_refuse_tokens_for_others_and_revoked_keys(
    stack: Stack,
    devnet_provider: ProviderProcess,
    start_provider: Callable[..., ProviderProcess],
) -> None:
    a, b = devnet_provider, start_provider()
    await stack.start("broker", providers=[a, b])
    broker, md = stack.broker(), stack.md("broker")
    for_a = await broker.stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=a.provider), metadata=md
    )
    ok = await _chat(a.url, for_a.model, for_a.authorization)
    assert ok.status_code == 200, ok.text

    at_b = await _chat(b.url, str(b.info()["model"]), for_a.authorization)
    assert (at_b.status_code, at_b.json()) == (
        400,
        {"error": "validate session: session token is for different provider"},
    )

    key = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(request_id="sec-key", provider=a.provider, label="revoke me"),
        metadata=md,
    )
    assert (await _chat(a.url, for_a.model, key.authorization)).status_code == 200
    await broker.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(
            request_id="sec-revoke", provider=a.provider, token_id=key.api_key.token_id
        ),
        metadata=md,
    )
    revoked = await _chat(a.url, for_a.model, key.authorization)
    assert (revoked.status_code, revoked.json()) == (
        400,
        {"error": "validate session: session token has been revoked"},
    )
    # The session token issued alongside is untouched by revoking one key.
    assert (await _chat(a.url, for_a.model, for_a.authorization)).status_code == 200
