"""vectors/compute.json reproduced byte for byte: session tokens, API keys, TEE signatures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.signing.support import SHARED_VECTORS, VECTORS
from zerog_signing import (
    SETTLEMENT_TYPES,
    LocalSigner,
    TeeSettlement,
    issue_api_key,
    issue_ephemeral_token,
    keccak256,
    personal_message_hash,
    recover_personal_signer,
    recover_settlement_signer,
    session_nonce,
    settlement_digest,
    settlement_domain,
    sign_personal_message,
    sign_settlement,
    sign_tee_response,
    tee_response_text,
    verify_session_header,
    verify_tee_response,
)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@pytest.fixture
def sdk(compute_vectors: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compute_vectors["sdk_fixed_inputs"]
    return result


def test_committed_copy_is_the_shared_vector_file() -> None:
    if not SHARED_VECTORS.exists():
        pytest.skip("../shared is not beside the repository")
    assert VECTORS.read_bytes() == SHARED_VECTORS.read_bytes()


def test_nonce_follows_the_sdk_rule_with_math_random_pinned(sdk: dict[str, Any]) -> None:
    inputs = sdk["inputs"]
    nonce = session_nonce(inputs["fixed_now_ms"], lambda: inputs["math_random"])
    assert nonce == "1700000000000-4fzzzxjylrx0000000"
    assert f'"nonce":"{nonce}"' in sdk["session_token_ephemeral"]["raw_message"]


def test_ephemeral_token_is_byte_for_byte_the_sdk_one(sdk: dict[str, Any]) -> None:
    inputs, expected = sdk["inputs"], sdk["session_token_ephemeral"]
    signer = LocalSigner.from_hex(inputs["user_private_key"])
    assert signer.address == inputs["user_address"]

    signed = issue_ephemeral_token(
        signer,
        inputs["provider_address"],
        generation=int(inputs["account"]["generation"]),
        now_ms=inputs["fixed_now_ms"],
        random=lambda: inputs["math_random"],
    )

    assert signed.raw_message == expected["raw_message"]
    inner = keccak256(signed.raw_message.encode())
    assert _hex(inner) == expected["keccak256_of_raw_message"]
    assert _hex(personal_message_hash(inner)) == expected["eip191_digest_signed"]
    assert signed.signature == expected["signature"]
    assert signed.authorization == expected["headers"]["Authorization"]
    assert recover_personal_signer(inner, signed.signature) == expected["recovered_address"]


def test_persistent_api_key_is_byte_for_byte_the_sdk_one(sdk: dict[str, Any]) -> None:
    inputs, expected = sdk["inputs"], sdk["api_key_persistent"]
    signer = LocalSigner.from_hex(inputs["user_private_key"])

    key = issue_api_key(
        signer,
        inputs["provider_address"],
        token_id=0,
        generation=0,
        now_ms=inputs["fixed_now_ms"],
        random=lambda: inputs["math_random"],
    )

    assert key.raw_message == expected["raw_message"]
    assert key.api_key == expected["result"]["rawToken"]
    assert key.token.token_id == expected["result"]["tokenId"] == 0
    assert key.token.timestamp == expected["result"]["createdAt"]
    assert key.token.expires_at == expected["result"]["expiresAt"] == 0


def test_live_chain_token_signature_reproduced_and_accepted(
    compute_vectors: dict[str, Any],
) -> None:
    for vector in compute_vectors["session_tokens_live_chain"]:
        signer = LocalSigner.from_hex(vector["user_private_key"])
        assert signer.address == vector["user_address"]
        signature = sign_personal_message(signer, keccak256(vector["raw_message"].encode()))
        assert signature == vector["signature"]

        parsed = verify_session_header(
            vector["authorization_header"],
            provider=vector["provider_address"],
            generation=0,
            revoked_bitmap=0,
            now_ms=parsed_timestamp(vector["raw_message"]),
        )
        assert parsed.token_bytes == vector["raw_message"].encode()
        assert parsed.signature == vector["signature"]
        assert parsed.address == vector["user_address"]


def parsed_timestamp(raw_message: str) -> int:
    return int(raw_message.split('"timestamp":', 1)[1].split(",", 1)[0])


def test_tee_response_signature(sdk: dict[str, Any]) -> None:
    inputs, expected = sdk["inputs"], sdk["process_response"]
    tee = LocalSigner.from_hex(inputs["tee_private_key"])
    assert tee.address == inputs["tee_address"] == expected["signing_address"]
    request, response = expected["request_body"].encode(), expected["response_body"].encode()

    assert tee_response_text(request, response) == expected["signed_text"]
    assert sign_tee_response(tee, request, response) == (
        expected["signed_text"],
        expected["signature"],
    )
    assert verify_tee_response(expected["signed_text"], expected["signature"], tee.address)
    wrong_text = tee_response_text(request, response + b" ")
    assert not verify_tee_response(wrong_text, expected["signature"], tee.address)


def test_tee_settlement_eip712(sdk: dict[str, Any]) -> None:
    expected = sdk["tee_settlement_eip712"]
    domain, value = expected["domain"], expected["value"]
    settlement = TeeSettlement(
        requests_hash=bytes.fromhex(value["requestsHash"][2:]),
        nonce=int(value["nonce"]),
        provider=value["provider"],
        user=value["user"],
        total_fee=int(value["totalFee"]),
    )
    where = {"chain_id": domain["chainId"], "verifying_contract": domain["verifyingContract"]}

    assert _hex(SETTLEMENT_TYPES.type_hash("TEESettlement")) == expected["settlement_typehash"]
    domain_type = (
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    assert _hex(keccak256(domain_type)) == expected["domain_typehash"]
    assert _hex(settlement_domain(**where).separator) == expected["domain_separator"]
    assert (
        _hex(SETTLEMENT_TYPES.hash_struct("TEESettlement", settlement.typed_message()))
        == expected["struct_hash"]
    )
    assert _hex(settlement_digest(settlement, **where)) == expected["digest"]

    tee = LocalSigner.from_hex(sdk["inputs"]["tee_private_key"])
    assert sign_settlement(tee, settlement, **where) == expected["tee_signature"]
    assert recover_settlement_signer(settlement, expected["tee_signature"], **where) == tee.address
