"""Minting caller tokens: a service's (or caller's) own private key, named by its key id.

Every signer holds only its own private key; verifiers hold the public keys (a JWKS, see
zerog_grpc.jwks). The key id is the key's RFC 7638 thumbprint, so the id published in the JWKS
and the id a signer puts in its tokens always agree, with nothing to configure.

    key = SigningKey.from_pem(Path("portfolio.pem").read_bytes())
    token = mint_token(key, "portfolio", "inference", user="alice")
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from zerog_grpc.tracing import trace_metadata

DEFAULT_LIFETIME_SECONDS = 300
# The members RFC 7638 hashes, per key type, in its order (lexicographic).
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class UnusableKey(ValueError):
    """A key cannot be used for caller tokens (wrong type, curve or size)."""


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the key id of that public key."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise UnusableKey(f"unsupported key type {jwk.get('kty')!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _algorithm_of(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnusableKey(f"EC keys must be P-256 (ES256), not {key.curve.name}")
        return "ES256"
    if key.key_size < 2048:
        raise UnusableKey(f"RSA keys must have at least 2048 bits, not {key.key_size}")
    return "RS256"


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A private key for ES256 (P-256) or RS256 (RSA >= 2048) tokens; repr hides it."""

    private: PrivateKey

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        """A PEM private key (PKCS#8 or traditional, unencrypted)."""
        raw = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as error:
            raise UnusableKey(f"not an unencrypted PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise UnusableKey(f"unsupported key type {type(key).__name__}")
        _algorithm_of(key)
        return cls(key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A new P-256 key (ES256: small tokens, fast to sign)."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def algorithm(self) -> str:
        return _algorithm_of(self.private)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self, service: str) -> dict[str, Any]:
        """The public half as a JWKS entry, bound to the one service whose tokens it signs."""
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk["kid"] = thumbprint(jwk)
        return {**jwk, "alg": self.algorithm, "use": "sig", "service": service}

    @cached_property
    def kid(self) -> str:
        return str(self.public_jwk("")["kid"])


def mint_token(
    key: SigningKey,
    service: str,
    audience: str | list[str],
    *,
    user: str = "",
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    issuer: str | None = None,
    now: float | None = None,
) -> str:
    """A token saying `service` (acting for `user`, if given) calls `audience` (one callee,
    or several for a long-lived token tried by hand).

    Only a key published for `service` in the verifier's JWKS makes it verify."""
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        "sub": service,
        "aud": audience,
        "iat": int(issued),
        "exp": int(issued + lifetime_seconds),
    }
    if issuer:
        claims["iss"] = issuer
    if user:
        claims["user"] = user
    return jwt.encode(claims, key.private, algorithm=key.algorithm, headers={"kid": key.kid})


@dataclass(repr=False)
class TokenMinter:
    """Mints short-lived tokens for calls from one service to others, cached per audience."""

    key: SigningKey
    service: str
    issuer: str | None = None
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS
    clock: Callable[[], float] = time.time
    _cache: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def token(self, audience: str, user: str = "") -> str:
        """A token for `audience`, reused until a minute before it expires."""
        now = self.clock()
        cached = self._cache.get((audience, user))
        if cached is not None and cached[1] - 60 > now:
            return cached[0]
        token = mint_token(
            self.key,
            self.service,
            audience,
            user=user,
            lifetime_seconds=self.lifetime_seconds,
            issuer=self.issuer,
            now=now,
        )
        self._cache[(audience, user)] = (token, now + self.lifetime_seconds)
        return token

    def metadata(self, audience: str, user: str = "") -> tuple[tuple[str, str], ...]:
        """Call metadata carrying a token for `audience` (and the trace context, when no client
        interceptor carries it)."""
        return (("authorization", f"Bearer {self.token(audience, user)}"), *trace_metadata())
