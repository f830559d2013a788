"""Properties over random keys and messages: sign/recover round trips and parsers."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import to_checksum_address as eth_checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_signing import (
    IntentAction,
    LocalSigner,
    WalletIntent,
    format_og,
    intent_message,
    issue_api_key,
    issue_ephemeral_token,
    parse_intent_message,
    parse_og,
    recover_personal_signer,
    sign_personal_message,
    to_checksum_address,
    verify_personal_message,
    verify_session_header,
)
from zerog_signing.ecdsa import SECP256K1_N

secrets_ = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@settings(max_examples=200, deadline=None)
@given(secret=secrets_, message=messages)
def test_sign_recover_round_trip(secret: bytes, message: str | bytes) -> None:
    signer = LocalSigner(secret)
    signature = sign_personal_message(signer, message)
    assert recover_personal_signer(message, signature) == signer.address
    assert verify_personal_message(message, signature, signer.address)
    assert int(signature[66:130], 16) <= SECP256K1_N // 2  # always low s
    signable = (
        encode_defunct(primitive=message)
        if isinstance(message, bytes)
        else encode_defunct(text=message)
    )
    assert Account.recover_message(signable, signature=signature) == signer.address


@settings(max_examples=100, deadline=None)
@given(secret=secrets_, message=messages, other=messages)
def test_a_signature_does_not_verify_another_message(
    secret: bytes, message: str | bytes, other: str | bytes
) -> None:
    signer = LocalSigner(secret)
    signature = sign_personal_message(signer, message)
    same = (message.encode() if isinstance(message, str) else message) == (
        other.encode() if isinstance(other, str) else other
    )
    assert verify_personal_message(other, signature, signer.address) == same


@settings(max_examples=100, deadline=None)
@given(
    secret=secrets_,
    provider=st.binary(min_size=20, max_size=20),
    now=st.integers(min_value=1, max_value=2**45),
    lifetime=st.integers(min_value=1, max_value=86_400_000),
    generation=st.integers(min_value=0, max_value=2**64 - 1),
    token_id=st.integers(min_value=0, max_value=254),
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_issued_tokens_pass_the_provider_check(
    secret: bytes,
    provider: bytes,
    now: int,
    lifetime: int,
    generation: int,
    token_id: int,
    fraction: float,
) -> None:
    signer = LocalSigner(secret)
    provider_address = "0x" + provider.hex()
    ephemeral = issue_ephemeral_token(
        signer,
        provider_address,
        generation=generation,
        now_ms=now,
        lifetime_ms=lifetime,
        random=lambda: fraction,
    )
    key = issue_api_key(
        signer,
        provider_address,
        token_id=token_id,
        generation=generation,
        now_ms=now,
        random=lambda: fraction,
    )
    for token in (ephemeral, key):
        assert len(token.token.nonce) >= 32
        parsed = verify_session_header(
            token.authorization,
            provider=provider_address,
            generation=generation,
            revoked_bitmap=~(1 << token_id) & (2**255 - 1),
            now_ms=now,
        )
        assert parsed.address == signer.address
        assert parsed.token == token.token


@given(neuron=st.integers(min_value=0, max_value=2**256 - 1))
def test_og_format_round_trip(neuron: int) -> None:
    assert parse_og(format_og(neuron)) == neuron


@given(raw=st.binary(min_size=20, max_size=20))
def test_checksum_matches_eth_utils(raw: bytes) -> None:
    expected = eth_checksum(raw)
    assert to_checksum_address("0x" + raw.hex()) == expected
    assert to_checksum_address(expected) == expected


@given(
    action=st.sampled_from(list(IntentAction)),
    raw=st.binary(min_size=20, max_size=20),
    timestamp=st.integers(min_value=1, max_value=10**16 - 1),
    amount=st.integers(min_value=1, max_value=10**30),
    nonce=st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,78}", fullmatch=True),
)
def test_intent_messages_round_trip(
    action: IntentAction, raw: bytes, timestamp: int, amount: int, nonce: str | None
) -> None:
    intent = WalletIntent(
        action, "0x" + raw.hex(), timestamp, amount if action is IntentAction.FUND else 0, nonce
    )
    assert parse_intent_message(intent_message(intent)) == intent
