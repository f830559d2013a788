"""Caller identity: bearer JWTs naming the calling service (and optionally the end user).

Tokens are HS256 with a shared secret, or RS256/ES256 verified with a public key. `sub` names the
calling service, `aud` the service called, `user` the end user on whose behalf it calls.
Each method has an allow list of calling services; a method without one is refused.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import jwt

from zerog_grpc.errors import abort, error_info
from zerog_grpc.handlers import Context, Handler, WrappingInterceptor
from zerog_grpc.tracing import trace_metadata

ANY_SERVICE = "*"
# Health and reflection must answer probes and grpcurl without credentials.
PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
_ASYMMETRIC = ("RS256", "ES256")
# Verified tokens kept at most (each calling service and user holds one at a time).
_REMEMBERED = 4096


@dataclass(frozen=True)
class Caller:
    """Who is calling: a service, and the end user it acts for, if any."""

    service: str
    user: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


class AuthError(Exception):
    """A token was missing, malformed, expired, forged or meant for another audience."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("zerog_caller")


def current_caller() -> Caller:
    """The authenticated caller of the RPC being served."""
    return _current.get()


@dataclass(frozen=True, repr=False)
class JwtVerifier:
    """Checks bearer tokens for one audience (the service being called)."""

    key: str | bytes
    audience: str
    algorithm: str = "HS256"
    issuer: str | None = None
    leeway_seconds: int = 30
    clock: Callable[[], float] = time.time
    # token -> (caller, the moment it stops being accepted). A calling service reuses its token
    # for minutes, so each would otherwise be decoded and its signature checked on every call.
    _verified: dict[str, tuple[Caller, float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.algorithm not in ("HS256", *_ASYMMETRIC):
            raise ValueError(f"unsupported JWT algorithm {self.algorithm}")

    def verify(self, token: str) -> Caller:
        """The caller named by `token`, or AuthError saying why not.

        A token that verified is remembered, byte for byte, until its exp (plus the leeway)
        passes: the same bytes under the same key verify the same way, and the only checks that
        change with time (exp, nbf, iat) can only turn a valid token invalid through exp.
        """
        now = self.clock()
        known = self._verified.get(token)
        if known is not None:
            if now < known[1]:
                return known[0]
            del self._verified[token]
        caller = self._decode(token)
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        self._verified[token] = (caller, float(caller.claims["exp"]) + self.leeway_seconds)
        return caller

    def _decode(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self.key,
                # One algorithm only: accepting several invites HS256-with-a-public-key forgeries.
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("TOKEN_EXPIRED", "token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("WRONG_AUDIENCE", f"token is not for {self.audience}") from None
        except jwt.InvalidSignatureError:
            raise AuthError("BAD_SIGNATURE", "token signature does not verify") from None
        except jwt.InvalidTokenError as error:
            raise AuthError("INVALID_TOKEN", f"invalid token: {type(error).__name__}") from None
        return Caller(service=str(claims["sub"]), user=str(claims.get("user", "")), claims=claims)


@dataclass(repr=False)
class TokenMinter:
    """Mints short-lived tokens for calls from one service to others, cached per audience."""

    key: str | bytes
    service: str
    algorithm: str = "HS256"
    issuer: str | None = None
    lifetime_seconds: int = 300
    clock: Callable[[], float] = time.time
    _cache: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def token(self, audience: str, user: str = "") -> str:
        """A token for `audience`, reused until a minute before it expires."""
        now = self.clock()
        cached = self._cache.get((audience, user))
        if cached is not None and cached[1] - 60 > now:
            return cached[0]
        expires = now + self.lifetime_seconds
        claims: dict[str, Any] = {
            "sub": self.service,
            "aud": audience,
            "iat": int(now),
            "exp": int(expires),
        }
        if self.issuer:
            claims["iss"] = self.issuer
        if user:
            claims["user"] = user
        token = jwt.encode(claims, self.key, algorithm=self.algorithm)
        self._cache[(audience, user)] = (token, expires)
        return token

    def metadata(self, audience: str, user: str = "") -> tuple[tuple[str, str], ...]:
        """Call metadata carrying a token for `audience` (and the trace context, when no client
        interceptor carries it)."""
        return (("authorization", f"Bearer {self.token(audience, user)}"), *trace_metadata())


def _service_of(method: str) -> str:
    return method.rsplit("/", 2)[-2] if method.count("/") >= 2 else ""


class AuthInterceptor(WrappingInterceptor):
    """Refuses calls without a valid token (UNAUTHENTICATED) or from a service not allowed on the
    method (PERMISSION_DENIED), and makes the caller available through `current_caller()`."""

    def __init__(self, verifier: JwtVerifier, allow: Mapping[str, Collection[str]]) -> None:
        self._verifier = verifier
        # Keyed by the bare method name ("Reserve") or the full path ("/pkg.Svc/Reserve").
        self._allow = {name: frozenset(services) for name, services in allow.items()}

    def allowed(self, method: str) -> frozenset[str]:
        """The services allowed to call `method` (full path)."""
        return self._allow.get(method) or self._allow.get(method.rsplit("/", 1)[-1], frozenset())

    def wraps(self, method: str, handler: Handler) -> bool:
        return _service_of(method) not in PUBLIC_SERVICES

    @asynccontextmanager
    async def around(
        self, method: str, request: Any, context: Context, *, streaming: bool
    ) -> AsyncIterator[None]:
        token = _current.set(await self._authenticate(method, context))
        if streaming:
            # A streaming call's generator may be closed from another context, where a reset
            # fails; the call's task ends with it, taking the value along.
            yield
            return
        try:
            yield
        finally:
            _current.reset(token)

    async def _authenticate(self, method: str, context: Context) -> Caller:
        header = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                header = value
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            await abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "missing bearer token",
                error_info("TOKEN_MISSING"),
            )
        try:
            caller = self._verifier.verify(token.strip())
        except AuthError as error:
            await abort(
                context, grpc.StatusCode.UNAUTHENTICATED, str(error), error_info(error.reason)
            )
        allowed = self.allowed(method)
        if ANY_SERVICE not in allowed and caller.service not in allowed:
            await abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"service {caller.service!r} may not call {method}",
                error_info("METHOD_NOT_ALLOWED", service=caller.service, method=method),
            )
        return caller
