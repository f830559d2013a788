"""Bearer tokens as zerog's services verify them: ES256 or RS256, signed with the caller's own
private key and named by its `kid`, the key's RFC 7638 thumbprint, which is the id the JWKS
publishes for it (docs/auth.md). `sub` is the caller, `aud` the service called, `user` the end
user acted for. No shared secret: a service can verify a token but never mint one for you.

    key = SigningKey.from_file("keys/app.pem")
    tokens = MintedTokens(key, subject="app", audience="inference", user="alice")
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

# A token is re-minted this long before it expires, so no call carries one about to lapse.
_MARGIN_SECONDS = 30
# The public members RFC 7638 hashes, per key type.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


class UnusableKey(ValueError):
    """The key cannot sign zerog tokens: not a P-256 or RSA (>= 2048 bits) private key."""


def _algorithm_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnusableKey(f"EC keys must be P-256 (ES256), not {key.curve.name}")
        return "ES256"
    if key.key_size < 2048:
        raise UnusableKey(f"RSA keys must have at least 2048 bits, not {key.key_size}")
    return "RS256"


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A caller's private key: P-256 signs ES256, RSA (>= 2048 bits) RS256; repr hides it."""

    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    def __post_init__(self) -> None:
        _algorithm_of(self.private)  # an unusable key is refused here, not at the first call

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        """An unencrypted PEM private key (PKCS#8 or traditional)."""
        raw = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as error:
            raise UnusableKey(f"not an unencrypted PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise UnusableKey(f"unsupported key type {type(key).__name__}")
        return cls(key)

    @classmethod
    def from_file(cls, path: str | Path) -> SigningKey:
        return cls.from_pem(Path(path).read_bytes())

    @property
    def algorithm(self) -> str:
        return _algorithm_of(self.private)

    @cached_property
    def kid(self) -> str:
        """The RFC 7638 thumbprint (SHA-256, base64url) of the public key."""
        public = self.private.public_key()
        jwk: dict[str, Any] = (
            ECAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, ec.EllipticCurvePublicKey)
            else RSAAlgorithm.to_jwk(public, as_dict=True)
        )
        members = {m: jwk[m] for m in _THUMBPRINT_MEMBERS[jwk["kty"]]}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(canonical.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_token(
    key: SigningKey,
    *,
    subject: str,
    audience: str | list[str],
    user: str = "",
    issuer: str | None = None,
    ttl_seconds: int = 300,
    now: Callable[[], float] = time.time,
) -> str:
    """A token saying `subject` (acting for `user`, if given) calls `audience`, signed with
    `key`; it verifies only where the JWKS publishes `key` for `subject`."""
    issued = int(now())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if user:
        claims["user"] = user
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


class MintedTokens:
    """A token source for connect(): mints a token and a new one shortly before it expires."""

    def __init__(
        self,
        key: SigningKey,
        *,
        subject: str,
        audience: str | list[str],
        user: str = "",
        issuer: str | None = None,
        ttl_seconds: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._mint = functools.partial(
            mint_token,
            key,
            subject=subject,
            audience=audience,
            user=user,
            issuer=issuer,
            ttl_seconds=ttl_seconds,
            now=now,
        )
        self._ttl = ttl_seconds
        self._now = now
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            if self._now() >= self._renew_at:
                self._token = self._mint()
                self._renew_at = self._now() + max(self._ttl - _MARGIN_SECONDS, self._ttl / 2)
            return self._token
