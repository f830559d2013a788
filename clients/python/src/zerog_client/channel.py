"""Channels to zerog's services: a default deadline and a retry policy as gRPC service config,
and the bearer token on every call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor_pool

# Importing the stubs registers their services in the default descriptor pool.
from zerog.broker.v1 import broker_service_pb2  # noqa: F401
from zerog.inference.v1 import inference_service_pb2  # noqa: F401
from zerog.quota.v1 import quota_service_pb2  # noqa: F401
from zerog.scheduler.v1 import scheduler_service_pb2  # noqa: F401
from zerog.storage.v1 import storage_service_pb2  # noqa: F401

Token = str | Callable[[], str] | None


@dataclass(frozen=True)
class Retry:
    """gRPC's own retries: UNAVAILABLE (the service or a dependency down) is tried again with
    exponential backoff. Safe for mutating calls, because each carries a request_id that the
    service answers once. REQUEST_IN_PROGRESS and RetryInfo delays are call()'s to honour."""

    attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0
    codes: tuple[str, ...] = ("UNAVAILABLE",)


def _watches() -> Iterator[dict[str, str]]:
    """Server streams meant to stay open (WatchAlerts...): no default deadline for them."""
    pool = descriptor_pool.Default()
    for module in ("broker", "inference", "quota", "scheduler", "storage"):
        file = pool.FindFileByName(f"zerog/{module}/v1/{module}_service.proto")
        for service in file.services_by_name.values():
            for method in service.methods:
                if method.server_streaming and method.name.startswith("Watch"):
                    yield {"service": service.full_name, "method": method.name}


def service_config(timeout: float | None = 30.0, retry: Retry | None = Retry()) -> str:
    """The channel's service config: every method gets `timeout` (unless the call sets its own)
    and the retry policy; long-lived watches get the retry policy only."""
    policy: dict[str, Any] = {}
    if retry is not None:
        policy["retryPolicy"] = {
            "maxAttempts": retry.attempts,
            "initialBackoff": f"{retry.initial_backoff}s",
            "maxBackoff": f"{retry.max_backoff}s",
            "backoffMultiplier": retry.multiplier,
            "retryableStatusCodes": list(retry.codes),
        }
    every: dict[str, Any] = {"name": [{}], **policy}
    if timeout is not None:
        every["timeout"] = f"{timeout}s"
    watches = {"name": list(_watches()), **policy}
    return json.dumps({"methodConfig": [every, watches]})


def _options(timeout: float | None, retry: Retry | None) -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", service_config(timeout, retry)),
        ("grpc.enable_retries", 1 if retry is not None else 0),
    ]


def _bearer(token: Token) -> Callable[[], str] | None:
    if token is None:
        return None
    if isinstance(token, str):
        fixed = token
        return lambda: fixed
    return token


def _with_token(metadata: Any, token: Callable[[], str]) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in (metadata or ()) if k != "authorization"]
    return [*kept, ("authorization", f"Bearer {token()}")]


class _Auth(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call of a sync channel."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _details(self, details: Any) -> Any:
        return _CallDetails(
            details.method,
            details.timeout,
            _with_token(details.metadata, self._token),
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class _AioAuth(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call of an asyncio channel."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _details(self, details: Any) -> Any:
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*_with_token(details.metadata, self._token)),
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def connect(
    address: str,
    *,
    token: Token = None,
    tls: bool | grpc.ChannelCredentials = False,
    timeout: float | None = 30.0,
    retry: Retry | None = Retry(),
) -> grpc.Channel:
    """A channel to `address` (host:port): plaintext, or TLS with `tls=True` (system roots) or
    given credentials; `token` is a token or a callable giving one (MintedTokens) per call."""
    options = _options(timeout, retry)
    if tls is False:
        channel = grpc.insecure_channel(address, options=options)
    else:
        creds = grpc.ssl_channel_credentials() if tls is True else tls
        channel = grpc.secure_channel(address, creds, options=options)
    bearer = _bearer(token)
    return channel if bearer is None else grpc.intercept_channel(channel, _Auth(bearer))


def connect_aio(
    address: str,
    *,
    token: Token = None,
    tls: bool | grpc.ChannelCredentials = False,
    timeout: float | None = 30.0,
    retry: Retry | None = Retry(),
) -> grpc.aio.Channel:
    """connect() for asyncio: a grpc.aio channel with the same deadline, retries and token."""
    options = _options(timeout, retry)
    bearer = _bearer(token)
    interceptors = [] if bearer is None else [_AioAuth(bearer)]
    if tls is False:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    creds = grpc.ssl_channel_credentials() if tls is True else tls
    return grpc.aio.secure_channel(address, creds, options=options, interceptors=interceptors)
