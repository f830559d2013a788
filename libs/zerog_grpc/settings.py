"""Reading service settings from the environment: typed values, secrets from files, clear errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from zerog_grpc.auth import JwtVerifier
from zerog_grpc.jwks import (
    FileSource,
    InvalidKeySet,
    KeySet,
    KeySource,
    PublishedKey,
    UrlSource,
    parse_jwks,
)
from zerog_grpc.tokens import SigningKey, TokenMinter, UnusableKey

N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Env:
    """Typed access to one environment mapping."""

    values: Mapping[str, str]

    def text(self, name: str, default: str | None = None) -> str:
        value = self.values.get(name, default)
        if value is None or value == "":
            if default is not None:
                return default
            raise ConfigError(f"{name} is required")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        return self._bounded(name, default, int, "an integer", minimum, maximum)

    def number(
        self, name: str, default: float, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        return self._bounded(name, default, float, "a number", minimum, maximum)

    def _bounded(
        self,
        name: str,
        default: N,
        convert: Callable[[str], N],
        kind: str,
        minimum: N,
        maximum: N | None,
    ) -> N:
        raw = self.values.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = convert(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            span = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ConfigError(f"{name} must be {span}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.values.get(name, "").strip().lower()
        if raw == "":
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def secret(self, name: str, required: bool = True) -> str:
        """NAME, or the contents of the file NAME_FILE (how Kubernetes mounts secrets)."""
        path = self.values.get(f"{name}_FILE")
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError as error:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {error.strerror}") from None
        value = self.values.get(name, "")
        if not value and required:
            raise ConfigError(f"{name} or {name}_FILE is required")
        return value


@dataclass(frozen=True, repr=False)
class AuthSettings:
    """How a service checks its callers' tokens (the JWKS) and signs its own (its private key,
    when it calls other services). Nothing here can mint another service's token."""

    jwks: KeySource
    audience: str
    issuer: str | None = None
    signing_key: SigningKey | None = None
    refresh_seconds: float = 60.0
    unknown_kid_seconds: float = 5.0
    # The file's keys read at start, so a missing or broken JWKS stops the service there.
    initial_keys: Mapping[str, PublishedKey] | None = None

    @classmethod
    def from_env(cls, env: Env, audience: str, *, signs: bool = False) -> AuthSettings:
        """AUTH_JWKS_FILE or AUTH_JWKS_URL; AUTH_SIGNING_KEY(_FILE), required when `signs`."""
        path, url = env.values.get("AUTH_JWKS_FILE", ""), env.values.get("AUTH_JWKS_URL", "")
        if bool(path) == bool(url):
            raise ConfigError("exactly one of AUTH_JWKS_FILE or AUTH_JWKS_URL is required")
        jwks: KeySource
        initial = None
        if path:
            jwks = FileSource(Path(path))
            try:
                initial = parse_jwks(Path(path).read_bytes())
            except OSError as error:
                raise ConfigError(f"AUTH_JWKS_FILE: cannot read {path}: {error.strerror}") from None
            except InvalidKeySet as error:
                raise ConfigError(f"AUTH_JWKS_FILE: {error}") from None
        else:
            jwks = UrlSource(url)
        pem = env.secret("AUTH_SIGNING_KEY", required=signs)
        try:
            signing_key = SigningKey.from_pem(pem) if pem else None
        except UnusableKey as error:
            raise ConfigError(f"AUTH_SIGNING_KEY: {error}") from None
        return cls(
            jwks,
            env.text("AUTH_AUDIENCE", audience),
            env.values.get("AUTH_ISSUER") or None,
            signing_key,
            env.number("AUTH_JWKS_REFRESH_SECONDS", 60.0, minimum=0.01),
            env.number("AUTH_JWKS_UNKNOWN_KID_SECONDS", 5.0, minimum=0.0),
            initial,
        )

    def verifier(self) -> JwtVerifier:
        keys = KeySet(
            self.jwks,
            refresh_seconds=self.refresh_seconds,
            unknown_kid_seconds=self.unknown_kid_seconds,
            initial=self.initial_keys,
        )
        return JwtVerifier(keys, self.audience, self.issuer)

    def minter(self, service: str) -> TokenMinter:
        """Tokens for `service`'s own outgoing calls, signed with its key."""
        if self.signing_key is None:
            raise ConfigError(f"{service} calls other services: AUTH_SIGNING_KEY is required")
        return TokenMinter(self.signing_key, service, self.issuer)


def parse_allow(raw: str, variable: str = "AUTH_ALLOW") -> dict[str, frozenset[str]]:
    """ "Reserve=inference,storage;Commit=inference" -> {"Reserve": {...}, "Commit": {...}}."""
    allow: dict[str, frozenset[str]] = {}
    for clause in filter(None, (part.strip() for part in raw.split(";"))):
        method, sep, services = clause.partition("=")
        names = frozenset(filter(None, (s.strip() for s in services.split(","))))
        if not sep or not method.strip() or not names:
            raise ConfigError(f"{variable}: expected Method=svc1,svc2;..., got {clause!r}")
        allow[method.strip()] = names
    return allow
