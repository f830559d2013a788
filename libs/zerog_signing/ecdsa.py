"""secp256k1 sign and recover straight through libsecp256k1 (coincurve's cffi binding).

coincurve's object API costs about a third of the time of a recovery in Python wrappers;
calling the library through the same cffi binding keeps sign/recover near the C speed that
PRODUCT.md section 9 asks for. Signatures are Ethereum's r || s || v with v = 27 or 28.
"""

from __future__ import annotations

# coincurve ships no stub for its compiled binding; ffi and lib are untyped cffi objects.
from coincurve._libsecp256k1 import ffi, lib  # type: ignore[import-not-found]
from coincurve.context import GLOBAL_CONTEXT

from zerog_signing.errors import InvalidSignature
from zerog_signing.hashing import keccak256

__all__ = [
    "SECP256K1_HALF_N",
    "SECP256K1_N",
    "address_of_secret",
    "is_valid_secret",
    "recover_address",
    "recover_address_raw",
    "sign_digest",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2

_CTX = GLOBAL_CONTEXT.ctx
_NULL = ffi.NULL
_new = ffi.new
_buffer = ffi.buffer
_UNCOMPRESSED = lib.SECP256K1_EC_UNCOMPRESSED
_sign_recoverable = lib.secp256k1_ecdsa_sign_recoverable
_serialize_compact = lib.secp256k1_ecdsa_recoverable_signature_serialize_compact
_parse_compact = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
_recover = lib.secp256k1_ecdsa_recover
_pubkey_create = lib.secp256k1_ec_pubkey_create
_pubkey_serialize = lib.secp256k1_ec_pubkey_serialize
_seckey_verify = lib.secp256k1_ec_seckey_verify


def is_valid_secret(secret: bytes) -> bool:
    """True for 32 bytes in [1, n): a usable secp256k1 private key."""
    return len(secret) == 32 and bool(_seckey_verify(_CTX, secret))


def _address_of_pubkey(pubkey: object) -> bytes:
    out = _new("unsigned char[65]")
    size = _new("size_t *", 65)
    _pubkey_serialize(_CTX, out, size, pubkey, _UNCOMPRESSED)
    # Skip the 0x04 prefix; the address is the last 20 bytes of keccak(x || y).
    return keccak256(_buffer(out, 65)[1:])[12:]


def address_of_secret(secret: bytes) -> bytes:
    """The 20-byte Ethereum address of a private key."""
    pubkey = _new("secp256k1_pubkey *")
    if not is_valid_secret(secret) or not _pubkey_create(_CTX, pubkey, secret):
        raise ValueError("invalid private key")
    return _address_of_pubkey(pubkey)


def sign_digest(secret: bytes, digest: bytes) -> bytes:
    """Deterministic (RFC 6979), low-s signature of a 32-byte digest: r || s || v (27/28)."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    sig = _new("secp256k1_ecdsa_recoverable_signature *")
    if not _sign_recoverable(_CTX, sig, digest, secret, _NULL, _NULL):
        raise ValueError("signing failed")
    out = _new("unsigned char[64]")
    recid = _new("int *")
    _serialize_compact(_CTX, out, recid, sig)
    rs: bytes = _buffer(out, 64)[:]
    return rs + (b"\x1b", b"\x1c")[recid[0]]


def recover_address_raw(digest: bytes, rs: bytes, recid: int) -> bytes | None:
    """Address for a 64-byte r || s and recovery id 0-3, or None when nothing recovers.

    No low-s rule here: callers that mirror other software decide. r or s of zero or not
    below n recover nothing, as in libsecp256k1 and go-ethereum.
    """
    sig = _new("secp256k1_ecdsa_recoverable_signature *")
    if not _parse_compact(_CTX, sig, rs, recid):
        return None
    pubkey = _new("secp256k1_pubkey *")
    if not _recover(_CTX, pubkey, sig, digest):
        return None
    return _address_of_pubkey(pubkey)


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """The 20-byte address that signed `digest`; raises InvalidSignature with the reason.

    Accepts v in {27, 28} or {0, 1}, as ethers and eth-account do. Refuses s above n/2:
    every wallet and library emits low s, ethers refuses almost every high s, and the rule
    leaves exactly one valid signature per (message, key), so nothing downstream can be
    confused by a malleated copy. eth-account does accept high s; we side with ethers.
    """
    if len(signature) != 65:
        raise InvalidSignature(f"signature must be 65 bytes, got {len(signature)}")
    v = signature[64]
    if v >= 27:
        v -= 27
    if v > 1:
        raise InvalidSignature(f"invalid v {signature[64]}: must be 27 or 28 (or 0 or 1)")
    if int.from_bytes(signature[32:64], "big") > SECP256K1_HALF_N:
        raise InvalidSignature("non-canonical signature: s is above n/2")
    address = recover_address_raw(digest, signature[:64], v)
    if address is None:
        raise InvalidSignature("no public key recovers from this signature")
    return address
