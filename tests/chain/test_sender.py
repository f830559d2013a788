"""zerog_chain against the real devnet: nonces under concurrency, reverts by name, profiles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3

from devnet import A0GI, Devnet
from zerog_chain import (
    ChainError,
    ChainIdMismatch,
    ChainUnavailable,
    ComputeContracts,
    ContractReverted,
    NetworkProfile,
    TransactionRejected,
    TxRecord,
    TxSender,
    Wallet,
    connect,
    decode_revert,
    network_profile,
)


class ListRecorder:
    """Keeps every record it is given, as the broker's table would."""

    def __init__(self) -> None:
        self.records: list[TxRecord] = []

    async def record(self, tx: TxRecord) -> None:
        self.records.append(tx)

    def final(self) -> dict[str, TxRecord]:
        latest: dict[str, TxRecord] = {}
        for r in self.records:
            latest[r.tx_hash] = r
        return latest


MakeContracts = Callable[[LocalAccount, ListRecorder], Awaitable[ComputeContracts]]


def _profile(devnet: Devnet) -> NetworkProfile:
    return network_profile("devnet", devnet.config.state_path)


@pytest.fixture
async def contracts_for(running_devnet: Devnet) -> AsyncIterator[MakeContracts]:
    """Builds ComputeContracts for an account; closes every connection afterwards."""
    connections: list[AsyncWeb3[Any]] = []

    async def make(account: LocalAccount, recorder: ListRecorder) -> ComputeContracts:
        profile = _profile(running_devnet)
        w3 = await connect(profile, running_devnet.state.rpc_url)
        connections.append(w3)
        sender = TxSender(w3, Wallet(account.key.hex()), profile.chain_id, recorder=recorder)
        return ComputeContracts(w3, profile, sender)

    yield make
    for w3 in connections:
        await w3.provider.disconnect()


async def test_twenty_concurrent_deposits_all_land_with_distinct_nonces(
    contracts_for: MakeContracts, funded_account: LocalAccount
) -> None:
    recorder = ListRecorder()
    compute = await contracts_for(funded_account, recorder)
    await compute.add_ledger(3 * A0GI, request_id="create")

    receipts = await asyncio.gather(
        *(compute.deposit(A0GI // 10, request_id=f"d{i}") for i in range(20))
    )

    ledger = await compute.get_ledger()
    assert ledger is not None
    assert ledger.total == 3 * A0GI + 20 * (A0GI // 10)
    assert len({r.tx_hash for r in receipts}) == 20
    final = recorder.final()
    assert sorted(r.nonce for r in final.values()) == list(range(21))
    assert all(r.status == "succeeded" and r.gas_used > 0 for r in final.values())


async def test_revert_is_decoded_by_name_and_nothing_is_sent(
    contracts_for: MakeContracts, funded_account: LocalAccount
) -> None:
    recorder = ListRecorder()
    compute = await contracts_for(funded_account, recorder)

    with pytest.raises(ContractReverted) as raised:
        await compute.transfer(funded_account.address, A0GI, request_id="t")

    assert raised.value.name == "LedgerNotExists"
    assert recorder.records == []
    # The nonce was not consumed: the next transaction still uses nonce 0.
    await compute.add_ledger(3 * A0GI, request_id="c")
    assert [r.nonce for r in recorder.final().values()] == [0]


async def test_insufficient_balance_names_the_contract_error(
    running_devnet: Devnet, contracts_for: MakeContracts, funded_account: LocalAccount
) -> None:
    compute = await contracts_for(funded_account, ListRecorder())
    await compute.add_ledger(3 * A0GI, request_id="c")
    provider = running_devnet.state.wallets[0].address

    with pytest.raises(ContractReverted) as raised:
        await compute.transfer(provider, 10 * A0GI, request_id="t")

    assert raised.value.name == "InsufficientAvailableBalance"
    assert raised.value.args_ == (3 * A0GI, 10 * A0GI)


async def test_a_failed_send_gives_its_nonce_back(
    contracts_for: MakeContracts, funded_account: LocalAccount
) -> None:
    recorder = ListRecorder()
    compute = await contracts_for(funded_account, recorder)
    sender = compute.sender
    # Explicit gas skips the estimate, so the node itself refuses (fee above the balance).
    with pytest.raises(TransactionRejected) as raised:
        await sender.send(compute.ledger.address, b"", purpose="TEST", value=10**30, gas=100_000)
    assert raised.value.name == "InsufficientFunds"
    await compute.add_ledger(3 * A0GI, request_id="c")
    final = recorder.final()
    assert sorted((r.nonce, r.status) for r in final.values()) == [(0, "failed"), (0, "succeeded")]


async def test_chain_id_must_match_the_profile(running_devnet: Devnet) -> None:
    testnet = network_profile("testnet")
    with pytest.raises(ChainIdMismatch) as raised:
        await connect(testnet, running_devnet.state.rpc_url)
    assert "16602" in str(raised.value)
    assert (raised.value.expected, raised.value.actual) == (16602, running_devnet.state.chain_id)


async def test_unreachable_rpc_is_unavailable(running_devnet: Devnet) -> None:
    with pytest.raises(ChainUnavailable):
        await connect(_profile(running_devnet), "http://127.0.0.1:9")


def test_profiles_carry_the_published_addresses() -> None:
    assert network_profile("mainnet").chain_id == 16661
    assert network_profile("mainnet").inference == "0x47340d900bdFec2BD393c626E12ea0656F938d84"
    assert network_profile("testnet").ledger == "0xE70830508dAc0A97e6c087c75f402f9Be669E406"
    with pytest.raises(ChainError):
        network_profile("devnet")
    with pytest.raises(ChainError):
        network_profile("moon")


def test_unknown_revert_data_is_reported_as_such() -> None:
    assert decode_revert("0xdeadbeef") == ("UnknownError", ("0xdeadbeef",))
    assert decode_revert("0x") == ("Reverted", ())


def test_wallet_never_shows_its_key(funded_account: LocalAccount) -> None:
    key = funded_account.key.hex()
    wallet = Wallet(key)
    assert key.removeprefix("0x") not in repr(wallet) + str(wallet)
    with pytest.raises(ChainError) as raised:
        Wallet("0x1234" + key[6:-2])
    assert key[6:-2] not in str(raised.value)
