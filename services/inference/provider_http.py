"""Calls to a provider's OpenAI-compatible API over aiohttp: unary JSON and SSE streams.

aiohttp rather than httpx on this path: under load httpx's pool polls every idle connection on
each request (a syscall per connection), which was a fifth of inference's CPU per completion
(docs/benchmarks.md, the gateway profile)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.inference.errors import ProviderError, StreamInterrupted
from services.inference.retry import is_retryable_status

RES_KEY_HEADER = "ZG-Res-Key"


@dataclass(frozen=True)
class Credentials:
    """What the broker issued for one provider (the header value is a secret: never logged)."""

    provider: str
    authorization: str
    endpoint: str
    model: str
    verifiable: bool
    input_price: int
    output_price: int
    response_signer: str = ""
    """For a verifiable service: the address its TEE signatures must recover to."""
    signer_untrusted: str = ""
    """Why none of its answers can be trusted now (the broker's reason), or empty."""

    def __repr__(self) -> str:
        return f"Credentials(provider={self.provider!r}, endpoint={self.endpoint!r})"


@dataclass(frozen=True)
class ProviderUsage:
    """Token counts as the provider reported them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Completion:
    """A finished answer and the exact bytes exchanged (for TEE verification)."""

    id: str
    chat_id: str
    model: str
    content: str
    finish_reason: str
    usage: ProviderUsage | None
    request_body: bytes
    response_body: bytes


def _usage(raw: Any) -> ProviderUsage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and prompt >= 0 and completion >= 0:
        return ProviderUsage(prompt, completion)
    return None


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message", error))
        if error is not None:
            return str(error)
    return body[:200].decode(errors="replace")


def _status_error(status: int, body: bytes) -> ProviderError:
    return ProviderError(
        f"http_{status}",
        _error_message(body),
        status=status,
        retryable=is_retryable_status(status),
    )


# What a failed exchange with a provider raises: aiohttp's errors and our timeouts.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def _transport_error(error: BaseException) -> ProviderError:
    if isinstance(error, asyncio.TimeoutError):
        return ProviderError(
            "timeout", f"provider timed out: {type(error).__name__}", retryable=True
        )
    return ProviderError(
        "connect_error", f"provider unreachable: {type(error).__name__}", retryable=True
    )


def request_body(creds: Credentials, payload: dict[str, Any], *, stream: bool) -> bytes:
    """The JSON sent, with the model the broker named and streaming usage asked for."""
    body = {**payload, "model": creds.model, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


class ProviderHttp:
    """One shared aiohttp session (a kept-alive connection pool) for every provider."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self._client = client

    @property
    def client(self) -> aiohttp.ClientSession:
        return self._client

    @staticmethod
    def new_client(**options: Any) -> aiohttp.ClientSession:
        """The production session: connections kept alive and reused, no cap on their number
        (the callers' concurrency bounds it), DNS answers cached for a minute."""
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=60, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector, auto_decompress=True, **options)

    async def _post(
        self, creds: Credentials, body: bytes, seconds: float, *, stream: bool
    ) -> aiohttp.ClientResponse:
        headers = {"Authorization": creds.authorization, "Content-Type": "application/json"}
        if stream:
            headers["Accept"] = "text/event-stream"
        return await self._client.post(
            creds.endpoint.rstrip("/") + "/chat/completions",
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        )

    async def complete(self, creds: Credentials, body: bytes, limit_seconds: float) -> Completion:
        """One unary call; ProviderError on any failure."""
        try:
            response = await self._post(creds, body, limit_seconds, stream=False)
            async with response:
                content = await response.read()
        except TRANSPORT_ERRORS as error:
            raise _transport_error(error) from error
        if response.status >= 400:
            raise _status_error(response.status, content)
        try:
            data = json.loads(content)
            choice = data["choices"][0]
            text = str(choice["message"].get("content") or "")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                "bad_response", "provider answered with a malformed completion", retryable=True
            ) from None
        chat_id = response.headers.get(RES_KEY_HEADER) or str(data.get("id", ""))
        return Completion(
            id=str(data.get("id", "")),
            chat_id=chat_id,
            model=str(data.get("model", creds.model)),
            content=text,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            usage=_usage(data.get("usage")),
            request_body=body,
            response_body=content,
        )

    async def open_stream(
        self, creds: Credentials, body: bytes, limit_seconds: float
    ) -> ProviderStream:
        """Send a streaming call and wait for its headers; ProviderError if it is refused."""
        try:
            response = await self._post(creds, body, limit_seconds, stream=True)
        except TRANSPORT_ERRORS as error:
            raise _transport_error(error) from error
        if response.status >= 400:
            try:
                content = await response.read()
            except TRANSPORT_ERRORS:
                content = b""
            finally:
                response.release()
            raise _status_error(response.status, content)
        return ProviderStream(creds, body, response)


class ProviderStream:
    """An open SSE answer: iterate deltas, then read the summary fields."""

    def __init__(self, creds: Credentials, body: bytes, response: aiohttp.ClientResponse) -> None:
        self._creds = creds
        self._response = response
        self.request_body = body
        self.received = bytearray()
        self.id = ""
        self.model = creds.model
        self.finish_reason = ""
        self.usage: ProviderUsage | None = None
        self.chat_id = response.headers.get(RES_KEY_HEADER, "")
        self.content: list[str] = []

    async def deltas(self) -> AsyncIterator[str]:
        """The text pieces as they arrive; StreamInterrupted if the stream breaks."""
        pending = b""
        try:
            async for chunk in self._response.content.iter_any():
                # Kept byte for byte: the TEE signature covers the exact body sent.
                self.received += chunk
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    piece = self._line(line.decode(errors="replace").rstrip("\r"))
                    if piece:
                        self.content.append(piece)
                        yield piece
        except TRANSPORT_ERRORS as error:
            raise StreamInterrupted(f"provider stream broke: {type(error).__name__}") from error
        finally:
            await self.aclose()
        if not self.chat_id:
            self.chat_id = self.id

    def _line(self, line: str) -> str:
        if not line.startswith("data:"):
            return ""
        data = line[5:].strip()
        return "" if data == "[DONE]" else self._absorb(data)

    def _absorb(self, data: str) -> str:
        try:
            event = json.loads(data)
        except ValueError:
            return ""
        if not isinstance(event, dict):
            return ""
        self.id = str(event.get("id") or self.id)
        self.model = str(event.get("model") or self.model)
        self.usage = _usage(event.get("usage")) or self.usage
        piece = ""
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict) and delta.get("content"):
                piece += str(delta["content"])
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        return piece

    @property
    def response_body(self) -> bytes:
        """The bytes received so far, as the provider sent them (for TEE verification)."""
        return bytes(self.received)

    async def aclose(self) -> None:
        # A stream read to its end gives its connection back to the pool; one cut short is
        # closed, so no later call reads the rest of this answer.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()
