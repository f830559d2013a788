"""A tiny deterministic chat model: the same messages always give the same answer.

Tokens are whitespace-separated words, so usage is easy to check: prompt_tokens counts the
words of every message's content, completion_tokens the words of the answer (one per
streamed chunk). With OpenAI's `response_format` (json_object or json_schema) the answer is
a JSON document, fitting the schema when one is given, with text taken from the vocabulary.
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
_MAX_DEPTH = 8


class BadChatRequest(ValueError):
    """The request body is not an OpenAI chat completion request we can answer."""


@dataclass(frozen=True)
class ChatRequest:
    """The parts of an OpenAI chat completion request the model uses."""

    model: str
    messages: tuple[tuple[str, str], ...]
    stream: bool
    max_tokens: int | None
    response_format: Any = None
    """None for text; else {"type": "json_object"} or {"type": "json_schema", ...} as sent."""

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
            response_format=_response_format(data.get("response_format")),
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


def _response_format(raw: Any) -> Any:
    """The structured-output request, checked as OpenAI does; None means plain text."""
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return raw
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise BadChatRequest("response_format.json_schema needs a name")
        if not isinstance(spec.get("schema", {}), dict):
            raise BadChatRequest("response_format.json_schema.schema must be an object")
        return raw
    raise BadChatRequest("response_format.type must be text, json_object or json_schema")


def _number(seed: bytes, i: int) -> int:
    return int.from_bytes(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()[:4], "big")


def _words(seed: bytes, count: int) -> list[str]:
    return [_VOCABULARY[_number(seed, i) % len(_VOCABULARY)] for i in range(count)]


def _branch(seed: bytes, key: str) -> bytes:
    return hashlib.sha256(seed + key.encode()).digest()


def _fill(schema: Any, seed: bytes, depth: int = 0) -> Any:
    """A value that fits `schema` (the JSON Schema subset structured outputs use)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return " ".join(_words(seed, 3))
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][_number(seed, 0) % len(schema["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _fill(schema[key][0], seed, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {k: _fill(v, _branch(seed, k), depth + 1) for k, v in properties.items()}
    if kind == "array":
        low = max(int(schema.get("minItems", 1)), 0)
        high = max(int(schema.get("maxItems", low + 2)), low)
        count = low + _number(seed, 1) % (high - low + 1)
        return [_fill(schema.get("items"), _branch(seed, str(i)), depth + 1) for i in range(count)]
    if kind in ("integer", "number"):
        low = int(schema.get("minimum", 0))
        high = max(int(schema.get("maximum", low + 100)), low)
        return low + _number(seed, 2) % (high - low + 1)
    if kind == "boolean":
        return _number(seed, 3) % 2 == 0
    if kind == "null":
        return None
    return " ".join(_words(seed, 3 + _number(seed, 4) % 6))


def _structured(request: ChatRequest, seed: bytes) -> list[str]:
    """A JSON answer split into words: single spaces only, so the words rejoin to the JSON."""
    fmt = request.response_format
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
    if schema is None:
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    text = json.dumps(_fill(schema, seed), separators=(", ", ": "))
    return text.split(" ")


def answer(request: ChatRequest, model: str) -> list[str]:
    """The answer's tokens (words): a pure function of the model name and the messages."""
    seed = hashlib.sha256(
        json.dumps([model, request.messages], separators=(",", ":")).encode()
    ).digest()
    if request.response_format is not None:
        words = _structured(request, seed)
    else:
        words = _words(seed, 4 + seed[0] % 16)
    if request.max_tokens is not None:
        # As a real model: cut off at max_tokens (a JSON answer is then incomplete).
        words = words[: request.max_tokens]
    return words


def pieces(words: Sequence[str]) -> list[str]:
    """Stream deltas, one per token, that concatenate to the unary answer text."""
    return [word if i == 0 else " " + word for i, word in enumerate(words)]
