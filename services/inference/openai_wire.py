"""OpenAI's JSON on the wire, to and from our messages: a chat request into a
ChatCompletionRequest (the gRPC door's own message, so both doors run one path), answers and
stream chunks out, and our errors in OpenAI's error shape."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2

from services.inference import convert
from services.inference.errors import ProviderRejected, ResponseNotVerified
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import Failure, InvalidRequest

Code = grpc.StatusCode
# What the endpoint takes; anything else is refused (400) rather than silently ignored.
SUPPORTED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "user",
        "n",
        "response_format",
    }
)
# OpenAI's role strings; "developer" is its newer name for the system message.
ROLES = {**convert.ROLE_OF, "developer": pb.CHAT_ROLE_SYSTEM}
_FORMATS = {
    "text": pb.RESPONSE_FORMAT_TYPE_TEXT,
    "json_object": pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
    "json_schema": pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
}
# Our field names where OpenAI's differ (for the `param` of an error).
_PARAMS = {"end_user": "user"}
# Retry-After when a refusal carries no RetryInfo (a spent budget: it will not come back soon).
DEFAULT_RETRY_AFTER = 60


class WireError(Exception):
    """A request the endpoint refuses before it reaches the chat path."""

    def __init__(self, status: int, message: str, kind: str, param: str | None, code: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.param, self.code = status, kind, param, code


def bad(message: str, param: str | None, code: str = "invalid_value") -> WireError:
    return WireError(400, message, "invalid_request_error", param, code)


@dataclass(frozen=True)
class ChatAsk:
    """An OpenAI chat request as our message, and how to answer it."""

    request: pb.ChatCompletionRequest
    stream: bool
    include_usage: bool


def _number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(f"{name} must be a number", name)
    return float(value)


def _integer(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name} must be an integer", name)
    return value


def _content(raw: Any, param: str) -> str:
    """A message's text: a string, or text parts (any other part is refused)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        texts = []
        for part in raw:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad("only text content parts are supported", param, "unsupported_value")
            if not isinstance(part.get("text"), str):
                raise bad("a text part needs a string `text`", param)
            texts.append(part["text"])
        return "".join(texts)
    raise bad("content must be a string or an array of text parts", param)


def _message(raw: Any, i: int) -> pb.ChatMessage:
    param = f"messages[{i}]"
    if not isinstance(raw, dict):
        raise bad("each message must be an object", param)
    unknown = sorted(set(raw) - {"role", "content", "name"})
    if unknown:
        raise bad(
            f"message field {unknown[0]} is not supported (no tools or function calls)",
            f"{param}.{unknown[0]}",
            "unsupported_parameter",
        )
    role = raw.get("role")
    if role not in ROLES:
        raise bad("role must be system, developer, user or assistant", f"{param}.role")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise bad("name must be a string", f"{param}.name")
    content = _content(raw.get("content"), f"{param}.content")
    return pb.ChatMessage(role=ROLES[role], content=content, name=name)


def _stop(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return list(raw)
    raise bad("stop must be a string or an array of strings", "stop")


def _response_format(raw: Any) -> pb.ResponseFormat:
    if raw is None:
        return pb.ResponseFormat()
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or kind not in _FORMATS:
        raise bad("type must be text, json_object or json_schema", "response_format")
    fmt = pb.ResponseFormat(type=_FORMATS[kind])
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise bad("response_format.json_schema must hold a schema object", "response_format")
        fmt.json_schema = json.dumps(spec.get("schema", {}))
        fmt.schema_name = str(spec.get("name", ""))
        fmt.strict = spec.get("strict") is True
    return fmt


def chat_ask(data: Any, request_id: str, subject: str) -> ChatAsk:
    """The chat request `data` (decoded JSON) as our message, charged to `subject`; WireError
    for what OpenAI's shape or our support refuses (values are checked by build_call)."""
    if not isinstance(data, dict):
        raise bad("the request body must be a JSON object", None)
    unknown = sorted(set(data) - SUPPORTED)
    if unknown:
        raise bad(f"{unknown[0]} is not supported", unknown[0], "unsupported_parameter")
    n = _integer(data, "n")
    if n is not None and n != 1:
        # Every answer is one provider call with one choice: n > 1 would be n calls, billed.
        raise bad("n must be 1: providers give one choice per call", "n", "unsupported_value")
    model = data.get("model", "")
    if not isinstance(model, str):
        raise bad("model must be a string", "model")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty array", "messages")
    user = data.get("user", "")
    if not isinstance(user, str):
        raise bad("user must be a string", "user")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad("stream_options must be an object", "stream_options")
    request = pb.ChatCompletionRequest(
        request_id=request_id,
        subject=subject,
        model=model,
        messages=[_message(m, i) for i, m in enumerate(messages)],
        stop=_stop(data.get("stop")),
        end_user=user,
        response_format=_response_format(data.get("response_format")),
    )
    temperature, top_p = _number(data, "temperature"), _number(data, "top_p")
    if temperature is not None:
        request.temperature = temperature
    if top_p is not None:
        request.top_p = top_p
    seed = _integer(data, "seed")
    if seed is not None:
        if not -(2**63) <= seed < 2**63:
            raise bad("seed must fit in 64 bits", "seed")
        request.seed = seed
    limit = _integer(data, "max_completion_tokens")
    limit = _integer(data, "max_tokens") if limit is None else limit
    if limit is not None:
        if not 0 < limit < 2**31:
            raise bad("max_tokens must be a positive integer", "max_tokens")
        request.max_tokens = limit
    return ChatAsk(request, data.get("stream") is True, options.get("include_usage") is True)


def completion_id(request_id: str) -> str:
    """One id for an answer, in every chunk of its stream and in its replay."""
    return f"chatcmpl-{request_id}"


def _usage(usage: pb.Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _zerog(answer: pb.ChatCompletionResponse) -> dict[str, Any]:
    """What we add to OpenAI's shape: who answered, what it cost, its TEE check."""
    return {
        "provider": answer.routing.provider,
        "provider_completion_id": answer.id,
        "fee_neuron": answer.cost.fee_neuron,
        "cost_micro_usd": answer.cost.cost_micro_usd,
        "verification": pb.VerificationStatus.Name(answer.verification.status),
    }


def completion(request_id: str, answer: pb.ChatCompletionResponse) -> dict[str, Any]:
    """A unary answer as OpenAI's chat.completion object."""
    return {
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": answer.create_time.seconds,
        "model": answer.model,
        "choices": [
            {
                "index": c.index,
                "message": {"role": "assistant", "content": c.message.content},
                "finish_reason": c.finish_reason or "stop",
                "logprobs": None,
            }
            for c in answer.choices
        ],
        "usage": _usage(answer.usage),
        "zerog": _zerog(answer),
    }


def chunk(
    request_id: str,
    model: str,
    created: int,
    delta: dict[str, str],
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk with one choice."""
    return {
        "id": completion_id(request_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(request_id: str, created: int, answer: pb.ChatCompletionResponse) -> dict[str, Any]:
    """The last chunk when stream_options.include_usage is set: no choices, the usage."""
    return {
        "id": completion_id(request_id),
        "object": "chat.completion.chunk",
        "created": created,
        "model": answer.model,
        "choices": [],
        "usage": _usage(answer.usage),
        "zerog": _zerog(answer),
    }


# A gRPC status as (HTTP status, OpenAI error type).
_HTTP = {
    Code.INVALID_ARGUMENT: (400, "invalid_request_error"),
    Code.OUT_OF_RANGE: (400, "invalid_request_error"),
    Code.FAILED_PRECONDITION: (400, "invalid_request_error"),
    Code.UNAUTHENTICATED: (401, "authentication_error"),
    Code.PERMISSION_DENIED: (403, "permission_error"),
    Code.NOT_FOUND: (404, "not_found_error"),
    Code.ALREADY_EXISTS: (409, "conflict_error"),
    Code.ABORTED: (409, "conflict_error"),
    Code.RESOURCE_EXHAUSTED: (429, "rate_limit_error"),
    Code.UNAVAILABLE: (503, "service_unavailable_error"),
    Code.DEADLINE_EXCEEDED: (504, "timeout_error"),
}


def _detail(failure: Failure, kind: type[Any]) -> Any:
    return next((d for d in failure.details if isinstance(d, kind)), None)


@dataclass(frozen=True)
class HttpError:
    """An error as the endpoint answers it."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None


def from_wire(error: WireError) -> HttpError:
    body = {"message": str(error), "type": error.kind, "param": error.param, "code": error.code}
    return HttpError(error.status, {"error": body})


def from_failure(error: BaseException, failure: Failure) -> HttpError:
    """How the gRPC door would end the call, as OpenAI's error shape: the same map decides."""
    status, kind = _HTTP.get(failure.code, (500, "api_error"))
    if (isinstance(error, ProviderRejected) and error.status != 400) or isinstance(
        error, ResponseNotVerified
    ):
        # The provider refused us (payment, auth) or its answer failed its check: not the
        # caller's request, so a bad gateway; a provider's 400 is about the request itself.
        status, kind = 502, "api_error"
    info = _detail(failure, error_details_pb2.ErrorInfo)
    code = info.reason.lower() if info is not None else failure.code.name.lower()
    param = None
    if isinstance(error, InvalidRequest) and error.problems:
        field = next(iter(error.problems))
        param = _PARAMS.get(field, field)
        message = "; ".join(
            f"{_PARAMS.get(f, f)}: {problem}" for f, problem in error.problems.items()
        )
    else:
        message = failure.message
    retry_after = None
    retry = _detail(failure, error_details_pb2.RetryInfo)
    if retry is not None:
        delay = retry.retry_delay
        retry_after = max(1, math.ceil(delay.seconds + delay.nanos / 1e9))
    elif status == 429:
        retry_after = DEFAULT_RETRY_AFTER
    body = {"message": message, "type": kind, "param": param, "code": code}
    return HttpError(status, {"error": body}, retry_after)


def unauthorized(message: str) -> HttpError:
    body = {
        "message": message,
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }
    return HttpError(401, {"error": body})
