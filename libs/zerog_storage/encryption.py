"""Optional file encryption of the SDKs: v1 (shared AES key) and v2 (ECIES to a secp256k1 key).

The header is stored in front of the ciphertext and the merkle root covers both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zerog_storage.errors import StorageProtocolError

__all__ = [
    "HKDF_INFO",
    "EncryptionHeader",
    "aes_ctr",
    "decrypt",
    "derive_v2_key",
    "encrypt_v1",
    "encrypt_v2",
    "parse_header",
]

HKDF_INFO = b"0g-storage-client/ecies/v1/aes-256"
_NONCE = 16
_V1, _V2 = 1, 2
_V1_HEADER = 1 + _NONCE
_V2_HEADER = 1 + 33 + _NONCE


@dataclass(frozen=True, slots=True)
class EncryptionHeader:
    """Version, nonce and (v2) the sender's ephemeral compressed public key."""

    version: int
    nonce: bytes
    ephemeral_pub: bytes = b""

    def encode(self) -> bytes:
        """The header bytes stored in front of the ciphertext."""
        return bytes([self.version]) + self.ephemeral_pub + self.nonce

    @property
    def size(self) -> int:
        """Header length in bytes (17 for v1, 50 for v2)."""
        return _V1_HEADER if self.version == _V1 else _V2_HEADER


def parse_header(data: bytes) -> EncryptionHeader:
    """Read the header at the start of an encrypted file; StorageProtocolError if there is none."""
    if data[:1] == bytes([_V1]) and len(data) >= _V1_HEADER:
        return EncryptionHeader(_V1, data[1:_V1_HEADER])
    if data[:1] == bytes([_V2]) and len(data) >= _V2_HEADER:
        return EncryptionHeader(_V2, data[34:_V2_HEADER], data[1:34])
    raise StorageProtocolError("no 0G encryption header")


def aes_ctr(key: bytes, nonce: bytes, data: bytes, offset: int = 0) -> bytes:
    """AES-256-CTR from plaintext `offset`: counter = nonce + offset // 16 (128-bit big-endian)."""
    counter = (int.from_bytes(nonce, "big") + offset // 16) % (1 << 128)
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter.to_bytes(16, "big"))).encryptor()
    skip = offset % 16
    # Keystream bytes before `offset` inside its block are generated and dropped.
    return (ctx.update(bytes(skip) + data) + ctx.finalize())[skip:]


def derive_v2_key(private_key: bytes, peer_public: bytes) -> bytes:
    """HKDF-SHA256 over the ECDH x-coordinate, empty salt, the SDK's info string, 32 bytes."""
    shared = PublicKey(peer_public).multiply(private_key).format(compressed=True)[1:]
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=HKDF_INFO).derive(shared)


def encrypt_v1(key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Header [0x01][nonce] + AES-256-CTR ciphertext under a shared 32-byte key."""
    header = EncryptionHeader(_V1, nonce or os.urandom(_NONCE))
    return header.encode() + aes_ctr(key, header.nonce, plaintext)


def encrypt_v2(
    recipient_public: bytes,
    plaintext: bytes,
    *,
    ephemeral_private: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Header [0x02][ephemeral pub][nonce] + ciphertext under the ECIES-derived key."""
    ephemeral = PrivateKey(ephemeral_private) if ephemeral_private else PrivateKey()
    header = EncryptionHeader(
        _V2, nonce or os.urandom(_NONCE), ephemeral.public_key.format(compressed=True)
    )
    key = derive_v2_key(ephemeral.secret, recipient_public)
    return header.encode() + aes_ctr(key, header.nonce, plaintext)


def decrypt(data: bytes, *, key: bytes | None = None, private_key: bytes | None = None) -> bytes:
    """Plaintext of an encrypted file: v1 needs `key`, v2 the recipient's `private_key`."""
    header = parse_header(data)
    if header.version == _V1:
        if key is None:
            raise StorageProtocolError("v1 encryption needs the AES key")
        aes_key = key
    else:
        if private_key is None:
            raise StorageProtocolError("v2 encryption needs the recipient's private key")
        aes_key = derive_v2_key(private_key, header.ephemeral_pub)
    return aes_ctr(aes_key, header.nonce, data[header.size :])
