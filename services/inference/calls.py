"""From a chat request to a validated ChatCall: request ids, limits, the budget subject."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from services.inference import convert
from services.inference.chat import ChatCall, ChatOutcome
from services.inference.errors import ResponseNotVerified
from services.inference.retry import Deadline
from services.inference.verification import FAILED
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import Problems, current_caller

DEFAULT_MAX_TOKENS, MAX_MAX_TOKENS = 512, 32768
SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def subject_of(given: str) -> str:
    """The budget to charge: as given, else the JWT's user, else the calling service."""
    caller = current_caller()
    return given or (f"user:{caller.user}" if caller.user else f"service:{caller.service}")


def response_format_of(fmt: pb.ResponseFormat, problems: Problems) -> dict[str, Any] | None:
    """OpenAI's response_format for the provider body; None for text (problems noted)."""
    schema_kind = fmt.type == pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA
    if fmt.json_schema and not schema_kind:
        problems.add("response_format.json_schema", "only with RESPONSE_FORMAT_TYPE_JSON_SCHEMA")
    if fmt.schema_name and not SCHEMA_NAME.fullmatch(fmt.schema_name):
        problems.add("response_format.schema_name", "1-64 letters, digits, '_' or '-'")
    if fmt.type == pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT:
        return {"type": "json_object"}
    if not schema_kind:
        return None
    try:
        schema = json.loads(fmt.json_schema)
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        problems.add("response_format.json_schema", "must be a JSON Schema (a JSON object)")
        return None
    spec: dict[str, Any] = {"name": fmt.schema_name or "response", "schema": schema}
    if fmt.strict:
        spec["strict"] = True
    return {"type": "json_schema", "json_schema": spec}


def build_call(
    request: pb.ChatCompletionRequest,
    deadline: Deadline,
    *,
    invalid: str,
    operation: str = "chat.completion",
    problems: Problems | None = None,
    prefix: str = "",
) -> ChatCall:
    """A ChatCall from a request; InvalidRequest(`invalid`) naming every problem found (with
    those already in `problems`), each field under `prefix`."""
    problems = Problems() if problems is None else problems
    found = Problems()
    found.request_id("request_id", request.request_id)
    if not request.messages:
        found.add("messages", "at least one message is required")
    for i, m in enumerate(request.messages):
        if m.role not in convert.ROLES:
            found.add(f"messages[{i}].role", "must be system, user or assistant")
        if not m.content.strip():
            found.add(f"messages[{i}].content", "must not be empty")
    if request.HasField("temperature") and not (
        math.isfinite(request.temperature) and 0 <= request.temperature <= 2
    ):
        found.add("temperature", "must be between 0 and 2")
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    found.within("max_tokens", max_tokens, 1, MAX_MAX_TOKENS)
    check_routing(found, "routing", request.routing)
    if request.verification not in pb.VerificationTiming.values():
        found.add("verification", "must be AFTER_ANSWER, BEFORE_ANSWER or unspecified")
    response_format = response_format_of(request.response_format, found)
    for field, problem in found.items():
        problems.add(prefix + field, problem)
    problems.raise_if_any(invalid)
    caller = current_caller()
    return ChatCall(
        request_id=f"{caller.service}/{request.request_id}",
        subject=subject_of(request.subject),
        user=caller.user,
        model=request.model,
        messages=[{"role": convert.ROLES[m.role], "content": m.content} for m in request.messages],
        max_tokens=max_tokens,
        deadline=deadline,
        temperature=request.temperature if request.HasField("temperature") else None,
        strategy=convert.STRATEGIES[request.routing.strategy],
        filters=convert.filters(request.model, request.routing),
        operation=operation,
        response_format=response_format,
        verify_now=request.routing.verifiable_only
        or request.verification == pb.VERIFICATION_TIMING_BEFORE_ANSWER,
    )


def check_routing(problems: Problems, field: str, routing: pb.RoutingOptions) -> None:
    """An unknown strategy is refused rather than quietly routed by cost."""
    if routing.strategy not in convert.STRATEGIES:
        problems.add(f"{field}.strategy", "must be COST, LATENCY, RELIABILITY or unspecified")


def refuse_unverified(call: ChatCall, outcome: ChatOutcome) -> None:
    """A caller that asked for verifiable providers never gets an unverified answer as valid."""
    if call.filters.verifiable_only and outcome.verification.status == FAILED:
        v = outcome.verification
        raise ResponseNotVerified(outcome.provider, v.chat_id, v.reason)
