"""Helpers tests share: a controllable clock, tokens for calling services, detail unpacking."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from zerog_grpc.jwks import FileSource
from zerog_grpc.keyring import Keyring
from zerog_grpc.settings import AuthSettings
from zerog_grpc.tokens import SigningKey

# Every zerog service, the admin tool and the callers tests name most often.
TEST_KEYS = Keyring(
    "zerog-tests",
    ["quota", "broker", "inference", "storage", "scheduler", "admin", "app", "intruder"],
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


# The storage tests' master key (STORAGE_MASTER_KEY): wraps their namespaces' data keys.
STORAGE_MASTER_KEY = "5a" * 32


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
    return TEST_KEYS.minter(service).metadata(audience, user)


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
