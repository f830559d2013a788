"""The provider-side token check accepts what 0G's Go broker accepts and refuses the rest
with the same reason texts."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from zerog_signing import (
    LocalSigner,
    SessionTokenRejected,
    TokenRejection,
    issue_api_key,
    issue_ephemeral_token,
    keccak256,
    parse_session_header,
    sign_personal_message,
    verify_session_header,
)
from zerog_signing.ecdsa import SECP256K1_N

NOW = 1_700_000_000_000
DAY = 86_400_000


@pytest.fixture
def inputs(compute_vectors: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compute_vectors["sdk_fixed_inputs"]["inputs"]
    return result


@pytest.fixture
def user(inputs: dict[str, Any]) -> LocalSigner:
    return LocalSigner.from_hex(inputs["user_private_key"])


@pytest.fixture
def provider(inputs: dict[str, Any]) -> str:
    result: str = inputs["provider_address"]
    return result


@pytest.fixture
def vector_header(compute_vectors: dict[str, Any]) -> str:
    result: str = compute_vectors["sdk_fixed_inputs"]["session_token_ephemeral"]["headers"][
        "Authorization"
    ]
    return result


def header_of(raw: str | bytes, signature: str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return "Bearer app-sk-" + base64.b64encode(data + b"|" + signature.encode()).decode()


def signed_header(signer: LocalSigner, raw: str) -> str:
    return header_of(raw, sign_personal_message(signer, keccak256(raw.encode())))


def token_json(user: LocalSigner, provider: str, **changes: Any) -> str:
    fields = {
        "address": user.address,
        "provider": provider,
        "timestamp": NOW,
        "expiresAt": NOW + DAY,
        "nonce": "1700000000000-4fzzzxjylrx0000000",
        "generation": 0,
        "tokenId": 255,
    }
    fields.update(changes)
    return json.dumps(fields, separators=(",", ":"))


def refusal(header: str | None, provider: str, **state: int) -> SessionTokenRejected:
    with pytest.raises(SessionTokenRejected) as raised:
        verify_session_header(
            header,
            provider=provider,
            generation=state.get("generation", 0),
            revoked_bitmap=state.get("revoked_bitmap", 0),
            now_ms=state.get("now_ms", NOW),
        )
    return raised.value


def test_accepts_the_sdk_token(vector_header: str, provider: str, user: LocalSigner) -> None:
    parsed = verify_session_header(
        vector_header, provider=provider, generation=0, revoked_bitmap=0, now_ms=NOW
    )
    assert parsed.address == user.address
    assert parsed.token.token_id == 255
    assert parsed.token.expires_at == NOW + DAY


def test_provider_matches_case_insensitively(vector_header: str, provider: str) -> None:
    verify_session_header(
        vector_header, provider=provider.lower(), generation=0, revoked_bitmap=0, now_ms=NOW
    )


def test_ephemeral_tokens_ignore_the_revoked_bitmap(vector_header: str, provider: str) -> None:
    verify_session_header(
        vector_header, provider=provider, generation=0, revoked_bitmap=(1 << 256) - 1, now_ms=NOW
    )


def test_refuses_another_signers_token(compute_vectors: dict[str, Any], provider: str) -> None:
    raw = compute_vectors["sdk_fixed_inputs"]["session_token_ephemeral"]["raw_message"]
    intruder = LocalSigner.generate()

    error = refusal(signed_header(intruder, raw), provider)

    assert error.reason is TokenRejection.ADDRESS_MISMATCH
    assert error.message == "signature verification failed: address mismatch"
    assert error.http_status == 400
    assert error.wire_error == "validate session: signature verification failed: address mismatch"


def test_refuses_a_tampered_message(vector_header: str, provider: str) -> None:
    payload = base64.b64decode(vector_header.removeprefix("Bearer app-sk-"))
    tampered = payload.replace(b'"expiresAt":1700086400000', b'"expiresAt":1700086399999')
    assert tampered != payload

    error = refusal("Bearer app-sk-" + base64.b64encode(tampered).decode(), provider)

    assert error.reason is TokenRejection.ADDRESS_MISMATCH


def test_expiry_is_checked_in_whole_seconds(vector_header: str, provider: str) -> None:
    expires_at = NOW + DAY
    # Go compares now (s) > expiresAt / 1000, so the last second of validity still passes.
    verify_session_header(
        vector_header, provider=provider, generation=0, revoked_bitmap=0, now_ms=expires_at + 999
    )
    error = refusal(vector_header, provider, now_ms=expires_at + 1000)
    assert error.reason is TokenRejection.EXPIRED
    assert error.message == "session token expired"


def test_api_key_without_expiry_never_expires(user: LocalSigner, provider: str) -> None:
    key = issue_api_key(user, provider, token_id=3, generation=0, now_ms=NOW)
    verify_session_header(
        key.authorization, provider=provider, generation=0, revoked_bitmap=0, now_ms=NOW * 100
    )


def test_refuses_a_token_for_another_provider(vector_header: str) -> None:
    error = refusal(vector_header, LocalSigner.generate().address)
    assert error.reason is TokenRejection.WRONG_PROVIDER
    assert error.message == "session token is for different provider"


def test_refuses_an_older_generation(vector_header: str, provider: str) -> None:
    error = refusal(vector_header, provider, generation=1)
    assert error.reason is TokenRejection.GENERATION_REVOKED
    assert error.message == "session token has been revoked (generation expired)"


def test_refuses_a_future_generation(user: LocalSigner, provider: str) -> None:
    token = issue_ephemeral_token(user, provider, generation=2, now_ms=NOW)
    error = refusal(token.authorization, provider, generation=1)
    assert error.reason is TokenRejection.FUTURE_GENERATION
    assert error.message == "invalid session token (future generation)"


def test_refuses_an_api_key_whose_bit_is_revoked(user: LocalSigner, provider: str) -> None:
    key = issue_api_key(user, provider, token_id=5, generation=0, now_ms=NOW)
    verify_session_header(
        key.authorization,
        provider=provider,
        generation=0,
        revoked_bitmap=~(1 << 5) & 0xFF,
        now_ms=NOW,
    )
    error = refusal(key.authorization, provider, revoked_bitmap=1 << 5)
    assert error.reason is TokenRejection.TOKEN_REVOKED
    assert error.message == "session token has been revoked"


def test_ephemeral_token_needs_an_expiry(user: LocalSigner, provider: str) -> None:
    error = refusal(signed_header(user, token_json(user, provider, expiresAt=0)), provider)
    assert error.reason is TokenRejection.EPHEMERAL_WITHOUT_EXPIRY
    assert error.message == "ephemeral token must have an expiration time"


def test_ephemeral_token_lives_at_most_a_day(user: LocalSigner, provider: str) -> None:
    exactly_a_day = token_json(user, provider, expiresAt=NOW + DAY)
    verify_session_header(
        signed_header(user, exactly_a_day),
        provider=provider,
        generation=0,
        revoked_bitmap=0,
        now_ms=NOW,
    )
    error = refusal(
        signed_header(user, token_json(user, provider, expiresAt=NOW + DAY + 1)), provider
    )
    assert error.reason is TokenRejection.EPHEMERAL_TOO_LONG
    assert error.message == "ephemeral token duration cannot exceed 24 hours"


@pytest.mark.parametrize(
    "header",
    [None, "", "app-sk-abc", "Bearer abc", "bearer app-sk-abc", "Bearer  app-sk-abc"],
)
def test_refuses_a_header_without_the_prefix(header: str | None, provider: str) -> None:
    error = refusal(header, provider)
    assert error.reason is TokenRejection.MISSING_HEADER
    assert error.message == (
        "missing or invalid Authorization header, "
        "must be Bearer app-sk-<base64(rawMessage:signature)>"
    )


@pytest.mark.parametrize(
    ("payload", "offset"),
    [("!!!!", 0), ("abc", 0), ("abcde", 4), ("ab=c", 2), ("a===", 1), ("YWJj*GVm", 4)],
)
def test_refuses_garbage_base64(payload: str, offset: int, provider: str) -> None:
    error = refusal("Bearer app-sk-" + payload, provider)
    assert error.reason is TokenRejection.INVALID_BASE64
    assert error.message == (
        f"invalid base64 in Authorization header: illegal base64 data at input byte {offset}"
    )


def test_refuses_a_payload_without_a_bar(provider: str) -> None:
    header = "Bearer app-sk-" + base64.b64encode(b'{"address":"0x"}0xabc').decode()
    error = refusal(header, provider)
    assert error.reason is TokenRejection.INVALID_PAYLOAD
    assert error.message == "invalid Authorization payload, expect base64(rawMessage:signature)"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("xyz", "invalid character 'x' looking for beginning of value"),
        ('{"a":1}}', "invalid character '}' after top-level value"),
        ("", "unexpected end of JSON input"),
        ("[1,2]", "json: cannot unmarshal array into Go value of type ctrl.SessionToken"),
        (
            '{"tokenId":256}',
            "json: cannot unmarshal number 256 into Go struct field SessionToken.tokenId"
            " of type uint8",
        ),
        (
            '{"timestamp":"1700000000000"}',
            "json: cannot unmarshal string into Go struct field SessionToken.timestamp"
            " of type int64",
        ),
        (
            '{"timestamp":1.5}',
            "json: cannot unmarshal number 1.5 into Go struct field SessionToken.timestamp"
            " of type int64",
        ),
        (
            '{"generation":-1}',
            "json: cannot unmarshal number -1 into Go struct field SessionToken.generation"
            " of type uint64",
        ),
        (
            '{"address":7}',
            "json: cannot unmarshal number into Go struct field SessionToken.address"
            " of type string",
        ),
    ],
)
def test_refuses_a_token_go_cannot_unmarshal(raw: str, detail: str, provider: str) -> None:
    error = refusal(header_of(raw, "0x00"), provider)
    assert error.reason is TokenRejection.INVALID_TOKEN_FORMAT
    assert error.message == f"invalid session token format in Authorization: {detail}"


def test_go_json_rules_case_insensitive_keys_and_unknown_fields(
    user: LocalSigner, provider: str
) -> None:
    raw = token_json(user, provider).replace('"address"', '"ADDRESS"')[:-1] + ',"extra":[1]}'
    parsed = verify_session_header(
        signed_header(user, raw), provider=provider, generation=0, revoked_bitmap=0, now_ms=NOW
    )
    assert parsed.address == user.address


@pytest.mark.parametrize(
    ("signature", "reason", "message"),
    [
        ("", TokenRejection.INVALID_SIGNATURE_FORMAT, "invalid signature format: empty hex string"),
        (
            "abcd",
            TokenRejection.INVALID_SIGNATURE_FORMAT,
            "invalid signature format: hex string without 0x prefix",
        ),
        (
            "0xzz",
            TokenRejection.INVALID_SIGNATURE_FORMAT,
            "invalid signature format: invalid hex string",
        ),
        (
            "0xabc",
            TokenRejection.INVALID_SIGNATURE_FORMAT,
            "invalid signature format: hex string of odd length",
        ),
        ("0xabcd", TokenRejection.INVALID_SIGNATURE_LENGTH, "invalid signature length"),
    ],
)
def test_refuses_malformed_signatures(
    signature: str, reason: TokenRejection, message: str, user: LocalSigner, provider: str
) -> None:
    error = refusal(header_of(token_json(user, provider), signature), provider)
    assert error.reason is reason
    assert error.message == message


def _resign(
    signature: str, v: int | None = None, s: int | None = None, r: int | None = None
) -> str:
    raw = bytearray(bytes.fromhex(signature[2:]))
    if r is not None:
        raw[:32] = r.to_bytes(32, "big")
    if s is not None:
        raw[32:64] = s.to_bytes(32, "big")
    if v is not None:
        raw[64] = v
    return "0x" + raw.hex()


def test_v_must_be_27_or_28(user: LocalSigner, provider: str) -> None:
    raw = token_json(user, provider)
    good = sign_personal_message(user, keccak256(raw.encode()))

    wrong_v = refusal(header_of(raw, _resign(good, v=good_v(good) - 27)), provider)
    assert wrong_v.reason is TokenRejection.RECOVERY_FAILED
    assert wrong_v.message == (
        "failed to recover public key from signature: invalid signature recovery id"
    )
    # 29/30 pass Go's range check (recovery ids 2/3) and then fail to recover.
    unrecoverable = refusal(header_of(raw, _resign(good, v=29)), provider)
    assert unrecoverable.message == "failed to recover public key from signature: recovery failed"
    zero_r = refusal(header_of(raw, _resign(good, r=0)), provider)
    assert zero_r.message == "failed to recover public key from signature: recovery failed"


def good_v(signature: str) -> int:
    return int(signature[-2:], 16)


def test_high_s_is_accepted_as_go_ethereum_accepts_it(user: LocalSigner, provider: str) -> None:
    raw = token_json(user, provider)
    good = sign_personal_message(user, keccak256(raw.encode()))
    s = int(good[66:130], 16)
    malleated = _resign(good, s=SECP256K1_N - s, v=55 - good_v(good))

    parsed = verify_session_header(
        header_of(raw, malleated), provider=provider, generation=0, revoked_bitmap=0, now_ms=NOW
    )
    assert parsed.address == user.address


def test_parse_gives_the_address_before_the_chain_lookup(
    vector_header: str, user: LocalSigner
) -> None:
    parsed = parse_session_header(vector_header)
    assert parsed.address == user.address
    assert parsed.token.generation == 0


def test_go_quirk_negative_expiry_never_expires(user: LocalSigner, provider: str) -> None:
    # ExpiresAt != 0 and a negative duration pass the ephemeral rules, and Go only checks
    # expiry when ExpiresAt > 0. A mirror must accept what the real provider accepts.
    header = signed_header(user, token_json(user, provider, expiresAt=-1))
    verify_session_header(header, provider=provider, generation=0, revoked_bitmap=0, now_ms=NOW * 9)
