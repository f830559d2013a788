"""Encryption at rest: chunked AES-256-GCM under a namespace key, wrapped by a master key.

Sealed format, version 1: an 8-byte header (b"ZGE", version 1, chunk size as u32 BE), then
one record per chunk of plaintext (at least one, so an empty tail cannot be cut off): the
chunk encrypted with AES-256-GCM, nonce = chunk index (u88 BE) + a last-chunk flag byte, the
header as associated data. Records cannot be reordered, dropped, truncated or altered unseen.

The content key is HKDF-SHA256(namespace key, salt = SHA-256 of the plaintext). Equal
plaintexts in one namespace therefore seal to equal bytes (one merkle root, paid once, and a
resumed upload finds the root it journaled), while another namespace's key gives other bytes.
Each content key seals exactly one plaintext, so its counter nonces never repeat.

Why not the SDKs' scheme (encryption.py): its AES-CTR has no integrity, and its v2 ECIES key
lives with whoever holds a wallet key; here a lost or deleted namespace key makes every copy
on 0G unreadable, and a tampered byte is refused rather than decrypted to garbage.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zerog_storage.errors import StorageProtocolError

__all__ = [
    "CHUNK",
    "HEADER_SIZE",
    "KEY_SIZE",
    "Opener",
    "Unreadable",
    "content_key",
    "is_sealed",
    "new_key",
    "open_all",
    "seal",
    "seal_all",
    "sealed_size",
    "unwrap_key",
    "wrap_key",
]

KEY_SIZE = 32
CHUNK = 64 * 1024
_MAGIC = b"ZGE"
_VERSION = 1
HEADER_SIZE = 8
_TAG = 16
_NONCE = 12
_INFO = b"zerog-storage/at-rest/v1/content"
_WRAP = b"zerog-storage/at-rest/v1/wrap:"


class Unreadable(StorageProtocolError):
    """Sealed bytes that this key cannot open: wrong or deleted key, or altered bytes."""


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_SIZE)


def content_key(namespace_key: bytes, plaintext_sha256: bytes) -> bytes:
    """The key one plaintext is sealed under in one namespace."""
    hkdf = HKDF(algorithm=SHA256(), length=KEY_SIZE, salt=plaintext_sha256, info=_INFO)
    return hkdf.derive(namespace_key)


def wrap_key(master: bytes, key: bytes, label: str) -> bytes:
    """`key` encrypted under the master key, bound to `label` (a namespace name)."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(master).encrypt(nonce, key, _WRAP + label.encode())


def unwrap_key(master: bytes, wrapped: bytes, label: str) -> bytes:
    """The key `wrap_key` wrapped for `label`; Unreadable under another master key or label."""
    try:
        return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _WRAP + label.encode())
    except InvalidTag:
        raise Unreadable(f"the key of {label!r} does not open under this master key") from None


def _header(chunk: int) -> bytes:
    return _MAGIC + bytes([_VERSION]) + struct.pack(">I", chunk)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(_NONCE - 1, "big") + (b"\x01" if last else b"\x00")


def is_sealed(data: bytes) -> bool:
    """Whether `data` starts with a sealed header this module reads."""
    return data[:4] == _MAGIC + bytes([_VERSION]) and len(data) >= HEADER_SIZE


def sealed_size(size: int, chunk: int = CHUNK) -> int:
    """How many bytes `size` plaintext bytes seal to."""
    records = max(1, -(-size // chunk))
    return HEADER_SIZE + size + records * _TAG


def seal(key: bytes, chunks: Iterator[bytes], size: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Seal `size` bytes read from `chunks` (any split): the header, then each record."""
    header = _header(chunk)
    aead = AESGCM(key)
    yield header
    buffer = bytearray()
    index = done = 0
    for piece in chunks:
        buffer += piece
        while len(buffer) >= chunk and done + chunk < size:
            yield aead.encrypt(_nonce(index, False), bytes(buffer[:chunk]), header)
            del buffer[:chunk]
            index += 1
            done += chunk
    if done + len(buffer) != size:
        raise ValueError(f"sealed {done + len(buffer)} bytes, expected {size}")
    yield aead.encrypt(_nonce(index, True), bytes(buffer), header)


def seal_all(key: bytes, plaintext: bytes, chunk: int = CHUNK) -> bytes:
    """`plaintext` sealed in one go."""
    return b"".join(seal(key, iter([plaintext]), len(plaintext), chunk))


class Opener:
    """Opens sealed bytes fed in any split; `finish()` refuses a truncated stream."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._buffer = bytearray()
        self._header = b""
        self._record = 0
        self._index = 0
        self._done = False

    def feed(self, data: bytes) -> bytes:
        """The plaintext of every whole record now received except a possible last one."""
        self._buffer += data
        if not self._header:
            if len(self._buffer) < HEADER_SIZE:
                return b""
            head = bytes(self._buffer[:HEADER_SIZE])
            if not is_sealed(head):
                raise Unreadable("not sealed by zerog storage (no ZGE1 header)")
            self._header = head
            self._record = struct.unpack(">I", head[4:])[0] + _TAG
            del self._buffer[:HEADER_SIZE]
        out = bytearray()
        # A full record is the last one only if nothing follows it, so keep one back.
        while len(self._buffer) > self._record:
            out += self._open(bytes(self._buffer[: self._record]), last=False)
            del self._buffer[: self._record]
        return bytes(out)

    def finish(self) -> bytes:
        """The last record's plaintext; Unreadable when the stream was cut or altered."""
        if not self._header or self._done:
            raise Unreadable("sealed bytes end before their last record")
        self._done = True
        return self._open(bytes(self._buffer), last=True)

    def _open(self, record: bytes, *, last: bool) -> bytes:
        try:
            plain = self._aead.decrypt(_nonce(self._index, last), record, self._header)
        except InvalidTag:
            raise Unreadable("sealed bytes do not open under this key") from None
        self._index += 1
        return plain


def open_all(key: bytes, sealed: bytes) -> bytes:
    """The plaintext of sealed bytes held whole."""
    opener = Opener(key)
    return opener.feed(sealed) + opener.finish()
