"""Helpers tests share: a controllable clock, tokens for calling services, detail unpacking."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from zerog_grpc import TokenMinter
from zerog_grpc.jwks import FileSource
from zerog_grpc.settings import AuthSettings
from zerog_grpc.tokens import SigningKey

# P-256's group order: a scalar below it is a valid private key.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class TestKeys:
    """One signing key per caller name, derived from the name (the same in every process), and
    the JWKS publishing them, a file this process's servers read.

    A name gets its key and its JWKS entry the first time it is asked for; the servers tests
    start re-read the file for any kid they do not know (AUTH_JWKS_UNKNOWN_KID_SECONDS=0)."""

    __test__ = False  # not a pytest class

    def __init__(self, names: Collection[str]) -> None:
        folder = tempfile.mkdtemp(prefix="zerog-test-jwks-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        self.path = Path(folder) / "jwks.json"
        self._keys: dict[str, SigningKey] = {}
        self._lock = threading.Lock()
        for name in names:
            self.key(name)

    def key(self, name: str) -> SigningKey:
        with self._lock:
            if name not in self._keys:
                digest = hashlib.sha256(f"zerog-tests:{name}".encode()).digest()
                scalar = int.from_bytes(digest) % (_P256_ORDER - 1) + 1
                self._keys[name] = SigningKey(ec.derive_private_key(scalar, ec.SECP256R1()))
                self._publish()
            return self._keys[name]

    def _publish(self) -> None:
        jwks = {"keys": [key.public_jwk(name) for name, key in sorted(self._keys.items())]}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(jwks))
        os.replace(partial, self.path)  # readers see the old or the new file, never half

    def env(self, service: str) -> dict[str, str]:
        """The auth settings of a test server of `service`, as its environment."""
        return {
            "AUTH_JWKS_FILE": str(self.path),
            "AUTH_JWKS_UNKNOWN_KID_SECONDS": "0",
            "AUTH_SIGNING_KEY": self.key(service).pem().decode(),
        }


# Every zerog service, the admin tool and the callers tests name most often.
TEST_KEYS = TestKeys(
    ["quota", "broker", "inference", "storage", "scheduler", "admin", "app", "intruder"]
)
# A key no JWKS publishes, for forgeries.
FORGER = SigningKey.generate()


def private_key_text(service: str) -> str:
    """A line of `service`'s test private key, as any leak of the key would show it."""
    return TEST_KEYS.key(service).pem().decode().splitlines()[1]


def auth_env(service: str) -> dict[str, str]:
    """The AUTH_* environment of a test server of `service` (it verifies against the test JWKS
    and signs its own calls with its test key)."""
    return TEST_KEYS.env(service)


@dataclass(frozen=True)
class Access:
    """Who may call a test server (start_server's `access`): tokens for `audience`."""

    audience: str
    allow: Mapping[str, Collection[str]] = field(default_factory=dict)

    @property
    def auth(self) -> AuthSettings:
        return AuthSettings(FileSource(TEST_KEYS.path), self.audience, unknown_kid_seconds=0)


class ManualClock:
    """A clock that moves only when told to, so tests control time without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def auth_metadata(service: str, audience: str, user: str = "") -> tuple[tuple[str, str], ...]:
    """Metadata with a valid token from `service` to `audience`."""
    return TokenMinter(TEST_KEYS.key(service), service).metadata(audience, user)


def raw_token(
    claims: dict[str, object], key: SigningKey | None = None, kid: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Metadata with a token of exactly these claims (for refusal tests), signed with `key`
    (by default the test key of its `sub`) and naming `kid` (by default the key's)."""
    key = key or TEST_KEYS.key(str(claims["sub"]))
    token = jwt.encode(claims, key.private, key.algorithm, headers={"kid": kid or key.kid})
    return (("authorization", f"Bearer {token}"),)


def claims(service: str, audience: str, expires_in: int = 300) -> dict[str, object]:
    now = int(time.time())
    return {"sub": service, "aud": audience, "iat": now, "exp": now + expires_in}
