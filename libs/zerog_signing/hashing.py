"""Keccak-256 (C implementation), the EIP-191 personal-message hash and EIP-55 addresses."""

from __future__ import annotations

import re

import sha3

from zerog_signing.errors import InvalidAddress

__all__ = [
    "address_bytes",
    "checksum_address",
    "keccak256",
    "personal_message_hash",
    "to_checksum_address",
]

_keccak = sha3.keccak_256
_PERSONAL_PREFIX = b"\x19Ethereum Signed Message:\n"
_HEX_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")


def keccak256(data: bytes) -> bytes:
    """Keccak-256 digest (Ethereum's, not NIST SHA3-256) of `data`."""
    digest: bytes = _keccak(data).digest()
    return digest


def personal_message_hash(message: bytes | str) -> bytes:
    """EIP-191 version 0x45 digest: what `personal_sign` / ethers `signMessage` signs.

    A str is encoded as UTF-8; bytes are taken as they are (ethers does the same for a
    Uint8Array, which is how the 0G SDK signs the 32 raw bytes of a hash).
    """
    if isinstance(message, str):
        data = message.encode()
    elif isinstance(message, bytes | bytearray | memoryview):
        data = bytes(message)
    else:
        # bytes(5) would silently sign five zero bytes.
        raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
    digest: bytes = _keccak(_PERSONAL_PREFIX + str(len(data)).encode() + data).digest()
    return digest


# EIP-55 without a per-character Python loop: a letter is upper-cased when its hash nibble
# is >= 8, i.e. 0x20 is subtracted from exactly those ASCII bytes, all in one int operation.
_NIBBLE_HIGH = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b"\x20" * 8)
_IS_LETTER = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b"\x20" * 6)


def checksum_address(raw: bytes) -> str:
    """EIP-55 mixed-case hex for a 20-byte address."""
    lower = raw.hex().encode()
    digest = _keccak(lower).hexdigest().encode()[:40]
    mask = int.from_bytes(digest.translate(_NIBBLE_HIGH), "big") & int.from_bytes(
        lower.translate(_IS_LETTER), "big"
    )
    return "0x" + (int.from_bytes(lower, "big") - mask).to_bytes(40, "big").decode()


def _parse(address: object) -> tuple[bytes, str]:
    if not isinstance(address, str) or not _HEX_ADDRESS.fullmatch(address):
        raise InvalidAddress(f"not a 0x-prefixed 20-byte hex address: {address!r}")
    digits = address[2:]
    raw = bytes.fromhex(digits)
    canonical = checksum_address(raw)
    # Mixed case must be the right checksum, as ethers' getAddress insists: it is how a
    # mistyped address is caught. All-lower and all-upper carry no checksum.
    if digits != canonical[2:] and digits != digits.lower() and digits != digits.upper():
        raise InvalidAddress(f"bad EIP-55 checksum: {address!r}")
    return raw, canonical


def address_bytes(address: str) -> bytes:
    """The 20 bytes of a hex address: all-lower, all-upper or a correct EIP-55 checksum."""
    # Lower case carries no checksum to verify; skip the keccak on this common path.
    if isinstance(address, str) and address[2:].islower() and _HEX_ADDRESS.fullmatch(address):
        return bytes.fromhex(address[2:])
    return _parse(address)[0]


def to_checksum_address(address: str) -> str:
    """Validate `address` (see address_bytes) and return its EIP-55 form."""
    return _parse(address)[1]
