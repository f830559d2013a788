"""Reading service settings from the environment: typed values, secrets from files, clear errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from zerog_grpc.auth import JwtVerifier

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
    """How a service checks the tokens of its callers (repr hides the key)."""

    key: str
    algorithm: str
    audience: str
    issuer: str | None

    @classmethod
    def from_env(cls, env: Env, audience: str) -> AuthSettings:
        algorithm = env.text("AUTH_JWT_ALGORITHM", "HS256")
        if algorithm == "HS256":
            key = env.secret("AUTH_JWT_SECRET")
            if len(key) < 32:
                raise ConfigError("AUTH_JWT_SECRET must be at least 32 characters")
        elif algorithm in ("RS256", "ES256"):
            key = env.secret("AUTH_JWT_PUBLIC_KEY")
        else:
            raise ConfigError(f"AUTH_JWT_ALGORITHM must be HS256, RS256 or ES256, got {algorithm}")
        return cls(
            key,
            algorithm,
            env.text("AUTH_AUDIENCE", audience),
            env.values.get("AUTH_ISSUER") or None,
        )

    def verifier(self) -> JwtVerifier:
        return JwtVerifier(self.key, self.audience, self.algorithm, self.issuer)


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
