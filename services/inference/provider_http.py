"""Calls to a provider's OpenAI-compatible API over httpx: unary JSON and SSE streams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx

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


def _transport_error(error: httpx.TransportError) -> ProviderError:
    if isinstance(error, httpx.TimeoutException):
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
    """One shared httpx client (HTTP/2 where the provider offers it) for every provider."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @staticmethod
    def new_client() -> httpx.AsyncClient:
        """The production client: HTTP/2 negotiated by ALPN, HTTP/1.1 otherwise."""
        return httpx.AsyncClient(http2=True, follow_redirects=False)

    def _request(self, creds: Credentials, body: bytes, timeout: float) -> httpx.Request:
        return self._client.build_request(
            "POST",
            creds.endpoint.rstrip("/") + "/chat/completions",
            content=body,
            headers={"Authorization": creds.authorization, "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout),
        )

    async def complete(self, creds: Credentials, body: bytes, limit_seconds: float) -> Completion:
        """One unary call; ProviderError on any failure."""
        try:
            response = await self._client.send(self._request(creds, body, limit_seconds))
        except httpx.TransportError as error:
            raise _transport_error(error) from error
        if response.status_code >= 400:
            raise _status_error(response.status_code, response.content)
        try:
            data = response.json()
            choice = data["choices"][0]
            content = str(choice["message"].get("content") or "")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                "bad_response", "provider answered with a malformed completion", retryable=True
            ) from None
        chat_id = response.headers.get(RES_KEY_HEADER) or str(data.get("id", ""))
        return Completion(
            id=str(data.get("id", "")),
            chat_id=chat_id,
            model=str(data.get("model", creds.model)),
            content=content,
            finish_reason=str(choice.get("finish_reason") or "stop"),
            usage=_usage(data.get("usage")),
            request_body=body,
            response_body=response.content,
        )

    async def open_stream(
        self, creds: Credentials, body: bytes, limit_seconds: float
    ) -> ProviderStream:
        """Send a streaming call and wait for its headers; ProviderError if it is refused."""
        stack = AsyncExitStack()
        try:
            response = await stack.enter_async_context(
                self._client.stream(
                    "POST",
                    creds.endpoint.rstrip("/") + "/chat/completions",
                    content=body,
                    headers={
                        "Authorization": creds.authorization,
                        "Content-Type": "application/json",
                        "Accept": "text/event-stream",
                    },
                    timeout=httpx.Timeout(limit_seconds),
                )
            )
            if response.status_code >= 400:
                content = await response.aread()
                raise _status_error(response.status_code, content)
        except httpx.TransportError as error:
            await stack.aclose()
            raise _transport_error(error) from error
        except BaseException:
            await stack.aclose()
            raise
        return ProviderStream(creds, body, response, stack)


class ProviderStream:
    """An open SSE answer: iterate deltas, then read the summary fields."""

    def __init__(
        self,
        creds: Credentials,
        body: bytes,
        response: httpx.Response,
        stack: AsyncExitStack,
    ) -> None:
        self._creds = creds
        self._response = response
        self._stack = stack
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
            async for chunk in self._response.aiter_bytes():
                # Kept byte for byte: the TEE signature covers the exact body sent.
                self.received += chunk
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    piece = self._line(line.decode(errors="replace").rstrip("\r"))
                    if piece:
                        self.content.append(piece)
                        yield piece
        except httpx.TransportError as error:
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
        await self._stack.aclose()
