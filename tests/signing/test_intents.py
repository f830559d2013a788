"""Wallet intents: canonical messages, EIP-712 form, and every refusal reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.signing.support import Ethers
from zerog_signing import (
    IntentAction,
    IntentVerifier,
    LocalSigner,
    MalformedMessage,
    MemoryNonceStore,
    Rejection,
    ReplayGuard,
    SignatureRejected,
    WalletIntent,
    format_og,
    intent_message,
    parse_intent_message,
    parse_og,
    sign_intent_message,
    sign_intent_typed,
    sign_personal_message,
)

NOW = 1_700_000_000_000
CHAIN = 16602
OG = 10**18


@pytest.fixture
def wallet() -> LocalSigner:
    return LocalSigner.generate()


@pytest.fixture
def clock() -> list[int]:
    return [NOW]


@pytest.fixture
def verifier(clock: list[int]) -> IntentVerifier:
    return IntentVerifier(ReplayGuard(MemoryNonceStore(), clock=lambda: clock[0]), chain_id=CHAIN)


async def rejected(coro: Any) -> SignatureRejected:
    with pytest.raises(SignatureRejected) as raised:
        await coro
    return raised.value


def test_canonical_messages(wallet: LocalSigner) -> None:
    a = wallet.address
    assert intent_message(WalletIntent(IntentAction.INITIALIZE, a, NOW)) == (
        f"Initialize 0G Broker for {a} at {NOW}"
    )
    assert intent_message(WalletIntent(IntentAction.FUND, a.lower(), NOW, 3 * OG // 2)) == (
        f"Fund 1.5 OG for {a} at {NOW}"
    )
    assert intent_message(WalletIntent(IntentAction.ANALYZE, a, NOW, nonce="x-1")) == (
        f"Analyze dream for {a} at {NOW} nonce x-1"
    )
    assert intent_message(WalletIntent(IntentAction.BALANCE, a, NOW)) == (
        f"Check balance for {a} at {NOW}"
    )


@pytest.mark.parametrize(
    ("text", "neuron"),
    [
        ("1", OG),
        ("0.5", OG // 2),
        ("0.000000000000000001", 1),
        ("12.25", 12_250_000_000_000_000_000),
    ],
)
def test_og_amounts_round_trip(text: str, neuron: int) -> None:
    assert parse_og(text) == neuron
    assert format_og(neuron) == text


@pytest.mark.parametrize(
    "text", ["1.0", "01", ".5", "1.", "1e18", "-1", "0.0000000000000000001", " 1"]
)
def test_non_canonical_amounts_are_malformed(text: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_og(text)


def test_parse_round_trips_and_normalizes_the_address(wallet: LocalSigner) -> None:
    for intent in (
        WalletIntent(IntentAction.INITIALIZE, wallet.address, NOW),
        WalletIntent(IntentAction.FUND, wallet.address, NOW, 7, nonce="abc_DEF-9"),
        WalletIntent(IntentAction.ANALYZE, wallet.address, NOW),
        WalletIntent(IntentAction.BALANCE, wallet.address, NOW, nonce="1"),
    ):
        assert parse_intent_message(intent_message(intent)) == intent
    lower = f"Analyze dream for {wallet.address.lower()} at {NOW}"
    assert parse_intent_message(lower).address == wallet.address


@pytest.mark.parametrize(
    "message",
    [
        "Analyze dream for 0xABC at 1",
        "Analyze dream for {a} at 01700000000000",
        "Analyze  dream for {a} at 1700000000000",
        "Analyze dream for {a} at 1700000000000 ",
        "Analyze dream for {a} at 1700000000000 nonce ",
        "Analyze dream for {a} at 1700000000000 nonce a:b",
        "Fund 0 OG for {a} at 1700000000000",
        "Fund 1.50 OG for {a} at 1700000000000",
        "Delete everything for {a} at 1700000000000",
        "Analyze dream for {bad} at 1700000000000",
        "",
    ],
)
def test_malformed_messages(message: str, wallet: LocalSigner) -> None:
    bad_checksum = wallet.address[:-1] + ("A" if wallet.address[-1] != "A" else "B")
    if bad_checksum.lower() == wallet.address.lower():
        bad_checksum = "0x" + "aB" * 20
    with pytest.raises(MalformedMessage) as raised:
        parse_intent_message(message.format(a=wallet.address, bad=bad_checksum))
    assert raised.value.reason is Rejection.MALFORMED_MESSAGE


async def test_eip191_intent_is_accepted_once(
    verifier: IntentVerifier, wallet: LocalSigner
) -> None:
    message, signature = sign_intent_message(
        wallet, WalletIntent(IntentAction.FUND, wallet.address, NOW, 2 * OG)
    )
    verified = await verifier.verify_message(
        message,
        signature,
        expected_action=IntentAction.FUND,
        expected_address=wallet.address.lower(),
    )
    assert verified.address == wallet.address
    assert verified.intent.amount_neuron == 2 * OG
    assert verified.form == "eip191"

    replay = await rejected(verifier.verify_message(message, signature))
    assert replay.reason is Rejection.REPLAYED_NONCE


async def test_explicit_nonce_cannot_be_reused_by_another_message(
    verifier: IntentVerifier, wallet: LocalSigner
) -> None:
    first = sign_intent_message(
        wallet, WalletIntent(IntentAction.ANALYZE, wallet.address, NOW, nonce="7")
    )
    second = sign_intent_message(
        wallet, WalletIntent(IntentAction.BALANCE, wallet.address, NOW + 1, nonce="7")
    )
    await verifier.verify_message(*first)
    assert (await rejected(verifier.verify_message(*second))).reason is Rejection.REPLAYED_NONCE


async def test_timestamps_outside_the_window(
    verifier: IntentVerifier, wallet: LocalSigner, clock: list[int]
) -> None:
    stale = sign_intent_message(
        wallet, WalletIntent(IntentAction.ANALYZE, wallet.address, NOW - 300_001)
    )
    future = sign_intent_message(
        wallet, WalletIntent(IntentAction.ANALYZE, wallet.address, NOW + 300_001)
    )
    assert (await rejected(verifier.verify_message(*stale))).reason is Rejection.STALE_TIMESTAMP
    assert (await rejected(verifier.verify_message(*future))).reason is Rejection.FUTURE_TIMESTAMP
    clock[0] = NOW + 300_001
    await verifier.verify_message(*future)


async def test_signature_by_someone_else(verifier: IntentVerifier, wallet: LocalSigner) -> None:
    message = intent_message(WalletIntent(IntentAction.INITIALIZE, wallet.address, NOW))
    forged = sign_personal_message(LocalSigner.generate(), message)
    error = await rejected(verifier.verify_message(message, forged))
    assert error.reason is Rejection.ADDRESS_MISMATCH


async def test_forged_signatures_do_not_burn_the_owners_nonce(
    verifier: IntentVerifier, wallet: LocalSigner
) -> None:
    intent = WalletIntent(IntentAction.ANALYZE, wallet.address, NOW, nonce="42")
    message, good = sign_intent_message(wallet, intent)
    await rejected(
        verifier.verify_message(message, sign_personal_message(LocalSigner.generate(), message))
    )
    await rejected(verifier.verify_message(message, "0x" + "00" * 65))
    assert (await verifier.verify_message(message, good)).nonce == "42"


@pytest.mark.parametrize(
    "signature", ["", "0x12", "0x" + "zz" * 65, "0x" + "11" * 64 + "1f", b"\x00"]
)
async def test_bad_signatures(
    verifier: IntentVerifier, wallet: LocalSigner, signature: Any
) -> None:
    message = intent_message(WalletIntent(IntentAction.ANALYZE, wallet.address, NOW))
    assert (
        await rejected(verifier.verify_message(message, signature))
    ).reason is Rejection.BAD_SIGNATURE


async def test_wrong_action_and_wrong_address(
    verifier: IntentVerifier, wallet: LocalSigner
) -> None:
    message, signature = sign_intent_message(
        wallet, WalletIntent(IntentAction.ANALYZE, wallet.address, NOW)
    )
    wrong_action = await rejected(
        verifier.verify_message(message, signature, expected_action=IntentAction.FUND)
    )
    assert wrong_action.reason is Rejection.WRONG_ACTION
    other = await rejected(
        verifier.verify_message(message, signature, expected_address=LocalSigner.generate().address)
    )
    assert other.reason is Rejection.ADDRESS_MISMATCH
    malformed = await rejected(verifier.verify_message("Analyze my dream", signature))
    assert malformed.reason is Rejection.MALFORMED_MESSAGE


async def test_eip712_intent(verifier: IntentVerifier, wallet: LocalSigner) -> None:
    intent = WalletIntent(IntentAction.FUND, wallet.address, NOW, OG, nonce=str(2**255))
    signature = sign_intent_typed(wallet, intent, CHAIN)

    verified = await verifier.verify_typed(intent, signature, expected_action=IntentAction.FUND)
    assert (verified.address, verified.nonce, verified.form) == (
        wallet.address,
        str(2**255),
        "eip712",
    )
    assert (
        await rejected(verifier.verify_typed(intent, signature))
    ).reason is Rejection.REPLAYED_NONCE


async def test_eip712_refusals(verifier: IntentVerifier, wallet: LocalSigner) -> None:
    intent = WalletIntent(IntentAction.FUND, wallet.address, NOW, OG, nonce="1")
    signature = sign_intent_typed(wallet, intent, CHAIN)
    more = WalletIntent(IntentAction.FUND, wallet.address, NOW, 2 * OG, nonce="1")
    assert (
        await rejected(verifier.verify_typed(more, signature))
    ).reason is Rejection.ADDRESS_MISMATCH
    other_chain = sign_intent_typed(wallet, intent, 16661)
    assert (
        await rejected(verifier.verify_typed(intent, other_chain))
    ).reason is Rejection.ADDRESS_MISMATCH
    for nonce in (None, "abc", "01"):
        no_nonce = WalletIntent(IntentAction.FUND, wallet.address, NOW, OG, nonce=nonce)
        assert (
            await rejected(verifier.verify_typed(no_nonce, signature))
        ).reason is Rejection.MALFORMED_MESSAGE
    await verifier.verify_typed(intent, signature)


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "delete"},
        {"address": "0x123"},
        {"timestamp_ms": 0},
        {"amount_neuron": 0},
        {"action": IntentAction.ANALYZE, "amount_neuron": 5},
        {"nonce": "has space"},
    ],
)
def test_invalid_intent_fields_are_malformed(fields: dict[str, Any], wallet: LocalSigner) -> None:
    base: dict[str, Any] = {
        "action": IntentAction.FUND,
        "address": wallet.address,
        "timestamp_ms": NOW,
        "amount_neuron": OG,
    }
    with pytest.raises(MalformedMessage):
        WalletIntent(**(base | fields))


async def test_wallet_signatures_from_ethers_are_accepted(
    ethers: Ethers, verifier: IntentVerifier, wallet: LocalSigner
) -> None:
    message = intent_message(WalletIntent(IntentAction.FUND, wallet.address, NOW, OG // 4))
    answer = ethers(
        {"personal_sign": [{"key": "0x" + wallet._key.secret.hex(), "message": {"text": message}}]}
    )
    verified = await verifier.verify_message(message, answer["personal_sign"][0])
    assert verified.address == wallet.address
