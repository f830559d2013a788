"""Signers: the Signer protocol, and LocalSigner holding a secp256k1 key in memory."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

from coincurve import PrivateKey
from eth_account import Account

from zerog_signing import ecdsa
from zerog_signing.errors import (
    InvalidPrivateKey,
    KeySourceNotFound,
    KeystoreDecryptFailed,
)
from zerog_signing.hashing import checksum_address

__all__ = ["LocalSigner", "Signer"]

_HEX_KEY = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")


@runtime_checkable
class Signer(Protocol):
    """Something that signs 32-byte digests for one Ethereum address.

    A KMS or HSM backed signer implements the same two members, so the code that builds
    tokens and intents never sees key material.
    """

    @property
    def address(self) -> str:
        """EIP-55 checksummed address of the key."""
        ...

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest: 65 bytes r || s || v with v = 27 or 28 and low s."""
        ...


class LocalSigner:
    """A private key held in process memory.

    The key never appears in repr, str, pickles or error messages, and no constructor
    chains the exception that rejected it (the offending text could be the key itself).
    """

    __slots__ = ("_address", "_key")

    _key: PrivateKey
    _address: str

    def __init__(self, secret: bytes) -> None:
        """Wrap 32 raw key bytes. Prefer the from_* constructors."""
        key = (
            ecdsa.load_private_key(bytes(secret)) if isinstance(secret, bytes | bytearray) else None
        )
        if key is None:
            raise InvalidPrivateKey("a private key is 32 bytes in [1, n) of secp256k1")
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_address", checksum_address(ecdsa.address_of_key(key)))

    @classmethod
    def from_hex(cls, key: str) -> LocalSigner:
        """From 64 hex digits, with or without 0x; surrounding whitespace is ignored."""
        match = _HEX_KEY.fullmatch(key.strip()) if isinstance(key, str) else None
        if match is None:
            raise InvalidPrivateKey("a hex private key is 64 hex digits, optionally after 0x")
        return cls(bytes.fromhex(match[1]))

    @classmethod
    def from_env(cls, name: str, env: Mapping[str, str] | None = None) -> LocalSigner:
        """From the hex key in environment variable `name` (`env` defaults to os.environ)."""
        value = (os.environ if env is None else env).get(name)
        if not value:
            raise KeySourceNotFound(f"environment variable {name} is not set")
        try:
            return cls.from_hex(value)
        except InvalidPrivateKey:
            raise InvalidPrivateKey(
                f"environment variable {name} does not hold a valid hex private key"
            ) from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LocalSigner:
        """From a file holding the hex key (a mounted secret, say); whitespace is ignored."""
        text = _read_text(Path(path))
        try:
            return cls.from_hex(text)
        except InvalidPrivateKey:
            raise InvalidPrivateKey(f"{path} does not hold a valid hex private key") from None

    @classmethod
    def from_keystore(
        cls, keystore: str | os.PathLike[str] | Mapping[str, Any], password: str | bytes
    ) -> LocalSigner:
        """From an encrypted JSON keystore (V3): a path, the JSON text, or the parsed dict."""
        if isinstance(keystore, Mapping):
            document: Any = dict(keystore)
            where = "keystore"
        else:
            text = (
                keystore
                if isinstance(keystore, str) and keystore.lstrip().startswith("{")
                else None
            )
            where = "keystore" if text is not None else str(keystore)
            if text is None:
                text = _read_text(Path(keystore))
            try:
                document = json.loads(text)
            except ValueError:
                raise KeystoreDecryptFailed(f"{where} is not JSON") from None
        try:
            # eth-account takes bytes as well as str; only its annotation says str.
            secret = bytes(Account.decrypt(document, password))  # type: ignore[arg-type]
        except Exception:
            # eth-account raises several types (MAC mismatch, KeyError, unsupported kdf...).
            raise KeystoreDecryptFailed(
                f"cannot decrypt {where}: wrong password or damaged keystore"
            ) from None
        return cls(secret)

    @classmethod
    def generate(cls) -> LocalSigner:
        """A fresh random key (tests, devnet accounts)."""
        while True:
            secret = secrets.token_bytes(32)
            if ecdsa.load_private_key(secret) is not None:
                return cls(secret)

    @property
    def address(self) -> str:
        """EIP-55 checksummed address of the key."""
        return self._address

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a 32-byte digest: 65 bytes r || s || v with v = 27 or 28 and low s."""
        return ecdsa.sign_digest(self._key, digest)

    def export_keystore(self, password: str, *, iterations: int | None = None) -> dict[str, Any]:
        """Encrypt the key into a V3 JSON keystore (for devnet accounts and tests)."""
        result: dict[str, Any] = Account.encrypt(self._key.secret, password, iterations=iterations)
        return result

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LocalSigner is immutable")

    def __repr__(self) -> str:
        return f"LocalSigner(address={self._address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would write the key wherever the pickle goes (caches, queues, logs).
        raise TypeError("LocalSigner cannot be pickled or copied: it holds a private key")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalSigner) and secrets.compare_digest(
            self._key.secret, other._key.secret
        )

    def __hash__(self) -> int:
        return hash(self._address)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise KeySourceNotFound(f"key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeySourceNotFound(f"key file {path} cannot be read: {type(e).__name__}") from None
