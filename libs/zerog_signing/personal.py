"""EIP-191 personal_sign: sign, recover and verify, compatible with ethers and eth-account."""

from __future__ import annotations

import re

from zerog_signing import ecdsa
from zerog_signing.errors import InvalidAddress, InvalidSignature
from zerog_signing.hashing import address_bytes, checksum_address, personal_message_hash
from zerog_signing.keys import Signer

__all__ = [
    "decode_signature",
    "recover_personal_signer",
    "sign_personal_message",
    "verify_personal_message",
]

_HEX_SIGNATURE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{130})")


def decode_signature(signature: bytes | str) -> bytes:
    """65 signature bytes from raw bytes or (0x-)hex text; InvalidSignature otherwise."""
    if isinstance(signature, bytes | bytearray):
        if len(signature) != 65:
            raise InvalidSignature(f"signature must be 65 bytes, got {len(signature)}")
        return bytes(signature)
    if isinstance(signature, str):
        match = _HEX_SIGNATURE.fullmatch(signature)
        if match is None:
            raise InvalidSignature("signature must be 65 bytes as 130 hex digits after 0x")
        return bytes.fromhex(match[1])
    raise InvalidSignature(f"signature must be bytes or hex text, not {type(signature).__name__}")


def sign_personal_message(signer: Signer, message: str | bytes) -> str:
    """personal_sign / ethers signMessage: 0x-hex r || s || v over the EIP-191 digest."""
    return "0x" + signer.sign_digest(personal_message_hash(message)).hex()


def recover_personal_signer(message: str | bytes, signature: bytes | str) -> str:
    """Checksummed address that personal-signed `message`; InvalidSignature if none."""
    raw = ecdsa.recover_address(personal_message_hash(message), decode_signature(signature))
    return checksum_address(raw)


def verify_personal_message(message: str | bytes, signature: bytes | str, address: str) -> bool:
    """True when `address` personal-signed `message`; False for any bad signature or address."""
    try:
        expected = address_bytes(address)
        return (
            ecdsa.recover_address(personal_message_hash(message), decode_signature(signature))
            == expected
        )
    except (InvalidSignature, InvalidAddress):
        return False
