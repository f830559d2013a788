"""Caller identity: bearer JWTs naming the calling service (and optionally the end user).

Tokens are ES256 or RS256, signed with the caller's own private key (zerog_grpc.tokens) and
checked against the published public keys (zerog_grpc.jwks). `sub` names the calling service,
`aud` the service called, `user` the end user on whose behalf it calls. A key signs only for
the service it is published for, so no caller can mint another's (or an admin's) token.
Each method has an allow list of calling services; a method without one is refused. A token
that names a user may only ask for that user's `subject` ("user:<user>").
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import jwt
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from zerog_grpc.errors import abort, error_info
from zerog_grpc.handlers import Context, Handler, WrappingInterceptor
from zerog_grpc.jwks import KeySet, PublishedKey
from zerog_grpc.tokens import TokenMinter

__all__ = [
    "ANY_SERVICE",
    "AuthError",
    "AuthInterceptor",
    "Caller",
    "JwtVerifier",
    "TokenMinter",
    "acting_as",
]

ANY_SERVICE = "*"
# Health and reflection must answer probes and grpcurl without credentials.
PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
# Verified tokens kept at most (each calling service and user holds one at a time).
_REMEMBERED = 4096
# Longer kids are not ours (thumbprints are 43 characters); never echo more than this.
_MAX_KID = 64


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


@contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    """`caller` as current_caller() within the block: for a door other than gRPC (the HTTP
    endpoint) that authenticated its caller its own way and then runs the same code."""
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    key: PublishedKey
    until: float


@dataclass(repr=False)
class JwtVerifier:
    """Checks bearer tokens for one audience (the service being called) against a KeySet."""

    keys: KeySet
    audience: str
    issuer: str | None = None
    leeway_seconds: int = 30
    clock: Callable[[], float] = time.time
    # A calling service reuses its token for minutes, so each would otherwise be decoded and
    # its signature checked on every call.
    _verified: dict[str, _Verified] = field(default_factory=dict, compare=False, repr=False)

    async def verify(self, token: str) -> Caller:
        """The caller named by `token`, or AuthError saying why not.

        A token that verified is remembered, byte for byte, until its exp (plus the leeway)
        passes or its key is no longer published (a removed key revokes its tokens at once):
        the same bytes under the same key verify the same way, and the only checks that change
        with time (exp, nbf, iat) can only turn a valid token invalid through exp.
        """
        known = self._verified.get(token)
        if known is not None:
            if self.clock() < known.until and await self.keys.get(known.key.kid) == known.key:
                return known.caller
            del self._verified[token]
        caller, key = await self._decode(token)
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        until = float(caller.claims["exp"]) + self.leeway_seconds
        self._verified[token] = _Verified(caller, key, until)
        return caller

    async def _decode(self, token: str) -> tuple[Caller, PublishedKey]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as error:
            raise AuthError("INVALID_TOKEN", f"invalid token: {type(error).__name__}") from None
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID:
            raise AuthError("INVALID_TOKEN", "token names no key id (kid)")
        key = await self.keys.get(kid)
        if key is None:
            raise AuthError("UNKNOWN_KEY", f"no published key has kid {kid}")
        try:
            claims = jwt.decode(
                token,
                key.key,
                # The key's algorithm only: accepting several invites algorithm confusion.
                algorithms=[key.algorithm],
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
        if claims["sub"] != key.service:
            raise AuthError(
                "KEY_NOT_FOR_SUBJECT", f"key {kid} does not sign for {str(claims['sub'])[:64]!r}"
            )
        caller = Caller(service=str(claims["sub"]), user=str(claims.get("user", "")), claims=claims)
        return caller, key


def user_subject(user: str) -> str:
    """The budget subject of an end user."""
    return f"user:{user}"


def _foreign_subject(caller: Caller, request: Any) -> str | None:
    """The request's `subject`, when the token names a user and it is not that user's."""
    if not caller.user or not isinstance(request, Message):
        return None  # a service acting for itself, or a stream of requests
    field_ = request.DESCRIPTOR.fields_by_name.get("subject")
    if field_ is None or field_.type != FieldDescriptor.TYPE_STRING:
        return None
    subject = str(getattr(request, field_.name))
    return subject if subject and subject != user_subject(caller.user) else None


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
        caller = await self._authenticate(method, context)
        foreign = _foreign_subject(caller, request)
        if foreign is not None:
            await abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"the caller acts for user {caller.user!r} and may not use subject {foreign!r}",
                error_info("SUBJECT_NOT_OWNED", user=caller.user, subject=foreign),
            )
        token = _current.set(caller)
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
            caller = await self._verifier.verify(token.strip())
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
