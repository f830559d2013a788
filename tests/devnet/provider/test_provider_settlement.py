"""Fees settle on chain through settleFeesWithTEE and the provider's ledger follows the chain."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from web3 import Web3

from devnet import A0GI, Devnet
from devnet.provider import ProviderProcess
from tests.devnet.provider.provider_helpers import chat, eventually, fee_of, new_user


def _unsettled(provider: ProviderProcess, user_address: str, headers: dict[str, str]) -> int:
    url = f"{provider.url}/v1/user/{user_address}/unsettledfee"
    return int(httpx.get(url, headers=headers).json()["unsettledFee"])


def test_settlement_moves_exactly_the_metered_fees_on_chain(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Callable[..., ProviderProcess]
) -> None:
    provider = start_provider()
    alice = new_user(running_devnet, devnet_w3, provider.provider)
    bob = new_user(running_devnet, devnet_w3, provider.provider)
    fees = {}
    for user in (alice, bob):
        headers = user.headers(provider.provider)
        usages = [chat(provider, headers).json()["usage"] for _ in range(2)]
        fees[user.address] = sum(fee_of(u, 1_000_000_000, 2_000_000_000) for u in usages)
    before = {u.address: u.sub_account(provider.provider)[3] for u in (alice, bob)}
    start_block = devnet_w3.eth.block_number

    outcomes = provider.settle()

    assert sorted((o["user"], o["status"], int(o["settled"])) for o in outcomes) == sorted(
        (address, "SUCCESS", fee) for address, fee in fees.items()
    )
    for user in (alice, bob):
        account = user.sub_account(provider.provider)
        assert account[3] == before[user.address] - fees[user.address]  # balance
        assert account[2] > 0  # nonce: the settlement's, unix seconds x 10^7
        assert _unsettled(provider, user.address, user.headers(provider.provider)) == 0
    results = user.inference.events.TEESettlementResult().get_logs(from_block=start_block + 1)
    assert {(e["args"]["user"], e["args"]["status"]) for e in results} <= {
        (alice.address, 0),
        (bob.address, 0),
    }
    assert provider.status()["settled"] == {a: str(f) for a, f in fees.items()}


def test_second_settlement_claims_only_new_calls(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Callable[..., ProviderProcess]
) -> None:
    provider = start_provider()
    user = new_user(running_devnet, devnet_w3, provider.provider)
    headers = user.headers(provider.provider)
    chat(provider, headers)
    provider.settle()
    balance = user.sub_account(provider.provider)[3]
    usage = chat(provider, headers).json()["usage"]

    outcomes = provider.settle()

    fee = fee_of(usage, 1_000_000_000, 2_000_000_000)
    assert [(o["status"], int(o["settled"])) for o in outcomes] == [("SUCCESS", fee)]
    assert user.sub_account(provider.provider)[3] == balance - fee
    assert provider.settle() == []  # nothing left to claim


def test_periodic_settlement_runs_without_being_asked(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Callable[..., ProviderProcess]
) -> None:
    provider = start_provider(settle_interval=0.2)
    user = new_user(running_devnet, devnet_w3, provider.provider, transfer=3 * A0GI)
    headers = user.headers(provider.provider)
    fee = fee_of(chat(provider, headers).json()["usage"], 1_000_000_000, 2_000_000_000)

    assert eventually(lambda: user.sub_account(provider.provider)[3] == 3 * A0GI - fee)
