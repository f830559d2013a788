"""A tiny deterministic chat model: the same messages always give the same answer.

Tokens are whitespace-separated words, so usage is easy to check: prompt_tokens counts the
words of every message's content, completion_tokens the words of the answer (one per
streamed chunk).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_WORDS = (
    "zero gravity ledger provider token settle chain block proof answer model devnet "
    "storage segment merkle root neuron fee stake signer verify stream chunk request "
    "response broker quota schedule digest summary alert inference compute network"
)
_VOCABULARY = tuple(_WORDS.split())
DEFAULT_MAX_TOKENS = 24


class BadChatRequest(ValueError):
    """The request body is not an OpenAI chat completion request we can answer."""


@dataclass(frozen=True)
class ChatRequest:
    """The parts of an OpenAI chat completion request the model uses."""

    model: str
    messages: tuple[tuple[str, str], ...]
    stream: bool
    max_tokens: int | None

    @classmethod
    def parse(cls, body: bytes) -> ChatRequest:
        """From the raw JSON body; BadChatRequest with a short reason otherwise."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadChatRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadChatRequest("request body must be a JSON object")
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadChatRequest("messages must be a non-empty array")
        parsed = tuple(_message(m) for m in messages)
        max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise BadChatRequest("max_tokens must be a positive integer")
        model = data.get("model", "")
        return cls(
            model=model if isinstance(model, str) else "",
            messages=parsed,
            stream=data.get("stream") is True,
            max_tokens=max_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        return sum(len(content.split()) for _, content in self.messages)


def _message(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise BadChatRequest("each message needs a role")
    content = raw.get("content", "")
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        content = " ".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    if not isinstance(content, str):
        raise BadChatRequest("message content must be a string or text parts")
    return raw["role"], content


def answer(request: ChatRequest, model: str) -> list[str]:
    """The answer's tokens (words): a pure function of the model name and the messages."""
    seed = hashlib.sha256(
        json.dumps([model, request.messages], separators=(",", ":")).encode()
    ).digest()
    length = 4 + seed[0] % 16
    if request.max_tokens is not None:
        length = min(length, request.max_tokens)
    words = []
    for i in range(length):
        block = hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
        words.append(_VOCABULARY[int.from_bytes(block[:4], "big") % len(_VOCABULARY)])
    return words


def pieces(words: Sequence[str]) -> list[str]:
    """Stream deltas, one per token, that concatenate to the unary answer text."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]
