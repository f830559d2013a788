"""Helpers tests share: a controllable clock, tokens for calling services, detail unpacking."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt

from zerog_grpc import TokenMinter
from zerog_grpc.settings import AuthSettings

# HS256 secret the test servers trust; long enough for AuthSettings' minimum.
JWT_SECRET = "zerog-tests-only-secret-0123456789abcdef"
# The storage tests' master key (STORAGE_MASTER_KEY): wraps their namespaces' data keys.
STORAGE_MASTER_KEY = "5a" * 32


@dataclass(frozen=True)
class Access:
    """Who may call a test server (start_server's `access`): tokens for `audience`."""

    audience: str
    allow: Mapping[str, Collection[str]] = field(default_factory=dict)

    @property
    def auth(self) -> AuthSettings:
        return AuthSettings(JWT_SECRET, "HS256", self.audience, None)


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
    return TokenMinter(JWT_SECRET, service).metadata(audience, user)


def raw_token(claims: dict[str, object], key: str = JWT_SECRET) -> tuple[tuple[str, str], ...]:
    """Metadata with a token of exactly these claims (for refusal tests)."""
    return (("authorization", f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"),)


def claims(service: str, audience: str, expires_in: int = 300) -> dict[str, object]:
    now = int(time.time())
    return {"sub": service, "aud": audience, "iat": now, "exp": now + expires_in}
