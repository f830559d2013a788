"""TEE signatures of 0G inference: signed responses and the EIP-712 TEESettlement.

A verifiable provider's TEE key signs `sha256hex(request body) + ":" + sha256hex(response
body)` with personal_sign, and signs fee settlements as EIP-712 typed data that the
InferenceServing contract checks in settleFeesWithTEE.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from zerog_signing import ecdsa
from zerog_signing.hashing import checksum_address
from zerog_signing.keys import Signer
from zerog_signing.personal import decode_signature, sign_personal_message, verify_personal_message
from zerog_signing.typed_data import Eip712Domain, Eip712Types, typed_data_digest

__all__ = [
    "SETTLEMENT_TYPES",
    "SignatureCheck",
    "TeeSettlement",
    "check_signature_reply",
    "recover_settlement_signer",
    "settlement_digest",
    "settlement_domain",
    "sign_settlement",
    "sign_tee_response",
    "tee_response_text",
    "verify_tee_response",
]

SETTLEMENT_TYPES = Eip712Types(
    {
        "TEESettlement": [
            ("requestsHash", "bytes32"),
            ("nonce", "uint256"),
            ("provider", "address"),
            ("user", "address"),
            ("totalFee", "uint256"),
        ]
    }
)


def tee_response_text(request_body: bytes, response_body: bytes) -> str:
    """The text a provider's TEE signs for one call."""
    return (
        hashlib.sha256(request_body).hexdigest() + ":" + hashlib.sha256(response_body).hexdigest()
    )


def sign_tee_response(signer: Signer, request_body: bytes, response_body: bytes) -> tuple[str, str]:
    """(text, signature) as the provider serves them at /v1/proxy/signature/{chatKey}."""
    text = tee_response_text(request_body, response_body)
    return text, sign_personal_message(signer, text)


def verify_tee_response(text: str, signature: bytes | str, tee_signer: str) -> bool:
    """The SDK's processResponse check: the signature over `text` recovers `tee_signer`."""
    return verify_personal_message(text, signature, tee_signer)


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """What checking a provider's signature reply found: `reason` says why it is not valid."""

    valid: bool
    reason: str
    text: str = ""
    signing_address: str = ""


def check_signature_reply(
    reply: object, request_sha256: str, response_sha256: str, expected_signer: str
) -> SignatureCheck:
    """Check the JSON a provider served at /v1/proxy/signature/{chatKey} ({"text",
    "signature", "signing_address"}): its text must name exactly these two hashes and its
    signature recover `expected_signer`. Anything malformed is an invalid signature, never a
    crash."""
    try:
        text = str(reply["text"])  # type: ignore[index]
        signature = str(reply["signature"])  # type: ignore[index]
        signing_address = str(reply.get("signing_address", ""))  # type: ignore[attr-defined]
    except (KeyError, TypeError, AttributeError):
        return SignatureCheck(False, "MALFORMED_SIGNATURE")
    signed_request, _, signed_response = text.partition(":")
    if (signed_request, signed_response) != (request_sha256, response_sha256):
        return SignatureCheck(False, "TEXT_MISMATCH", text, signing_address)
    try:
        valid = verify_tee_response(text, signature, expected_signer)
    except Exception:  # any malformed signature is an invalid one
        return SignatureCheck(False, "MALFORMED_SIGNATURE", text, signing_address)
    return SignatureCheck(valid, "" if valid else "SIGNATURE_MISMATCH", text, signing_address)


@dataclass(frozen=True, slots=True)
class TeeSettlement:
    """One user's batch in settleFeesWithTEE. Fees are neuron; nonce is unix s * 10^7."""

    requests_hash: bytes
    nonce: int
    provider: str
    user: str
    total_fee: int

    def typed_message(self) -> dict[str, object]:
        """The EIP-712 message, with the contract's field names."""
        return {
            "requestsHash": self.requests_hash,
            "nonce": self.nonce,
            "provider": self.provider,
            "user": self.user,
            "totalFee": self.total_fee,
        }


def settlement_domain(chain_id: int, verifying_contract: str) -> Eip712Domain:
    """{name "0G Inference Serving", version "1", chainId, InferenceServing address}."""
    return Eip712Domain(
        name="0G Inference Serving",
        version="1",
        chain_id=chain_id,
        verifying_contract=verifying_contract,
    )


def settlement_digest(
    settlement: TeeSettlement, *, chain_id: int, verifying_contract: str
) -> bytes:
    """The EIP-712 digest the TEE signer signs for one settlement."""
    return typed_data_digest(
        settlement_domain(chain_id, verifying_contract),
        SETTLEMENT_TYPES,
        "TEESettlement",
        settlement.typed_message(),
    )


def sign_settlement(
    signer: Signer, settlement: TeeSettlement, *, chain_id: int, verifying_contract: str
) -> str:
    """0x-hex signature for the `signature` field of settleFeesWithTEE."""
    digest = settlement_digest(settlement, chain_id=chain_id, verifying_contract=verifying_contract)
    return "0x" + signer.sign_digest(digest).hex()


def recover_settlement_signer(
    settlement: TeeSettlement, signature: bytes | str, *, chain_id: int, verifying_contract: str
) -> str:
    """EIP-55 address of the TEE signer of a settlement; InvalidSignature if none."""
    digest = settlement_digest(settlement, chain_id=chain_id, verifying_contract=verifying_contract)
    return checksum_address(ecdsa.recover_address(digest, decode_signature(signature)))
