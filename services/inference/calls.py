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
# OpenAI's limits: 4 stop sequences; an end-user id is short.
MAX_STOPS, MAX_STOP_BYTES, MAX_END_USER = 4, 256, 256


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
        if m.name and not SCHEMA_NAME.fullmatch(m.name):
            found.add(f"messages[{i}].name", "1-64 letters, digits, '_' or '-'")
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
    options = sampling_options(request, found)
    for field, problem in found.items():
        problems.add(prefix + field, problem)
    problems.raise_if_any(invalid)
    caller = current_caller()
    return ChatCall(
        request_id=f"{caller.service}/{request.request_id}",
        subject=subject_of(request.subject),
        user=caller.user,
        model=request.model,
        messages=[message_of(m) for m in request.messages],
        max_tokens=max_tokens,
        deadline=deadline,
        temperature=request.temperature if request.HasField("temperature") else None,
        strategy=convert.STRATEGIES[request.routing.strategy],
        filters=convert.filters(request.model, request.routing),
        operation=operation,
        response_format=response_format,
        verify_now=request.routing.verifiable_only
        or request.verification == pb.VERIFICATION_TIMING_BEFORE_ANSWER,
        options=options,
    )


def message_of(m: pb.ChatMessage) -> dict[str, str]:
    """A message as the provider takes it (OpenAI's shape)."""
    message = {"role": convert.ROLES[m.role], "content": m.content}
    if m.name:
        message["name"] = m.name
    return message


def sampling_options(request: pb.ChatCompletionRequest, problems: Problems) -> dict[str, Any]:
    """stop, top_p, seed and the end user's id, as OpenAI names them (problems noted)."""
    options: dict[str, Any] = {}
    if len(request.stop) > MAX_STOPS:
        problems.add("stop", f"at most {MAX_STOPS} sequences")
    for i, stop in enumerate(request.stop):
        if not 1 <= len(stop.encode()) <= MAX_STOP_BYTES:
            problems.add(f"stop[{i}]", f"must be 1-{MAX_STOP_BYTES} bytes")
    if request.stop:
        options["stop"] = list(request.stop)
    if request.HasField("top_p"):
        if not (math.isfinite(request.top_p) and 0 < request.top_p <= 1):
            problems.add("top_p", "must be in (0, 1]")
        options["top_p"] = request.top_p
    if request.HasField("seed"):
        options["seed"] = request.seed
    if len(request.end_user.encode()) > MAX_END_USER:
        problems.add("end_user", f"at most {MAX_END_USER} bytes")
    if request.end_user:
        options["user"] = request.end_user
    return options


def check_routing(problems: Problems, field: str, routing: pb.RoutingOptions) -> None:
    """An unknown strategy is refused rather than quietly routed by cost."""
    if routing.strategy not in convert.STRATEGIES:
        problems.add(f"{field}.strategy", "must be COST, LATENCY, RELIABILITY or unspecified")


def refuse_unverified(call: ChatCall, outcome: ChatOutcome) -> None:
    """A caller that asked for verifiable providers never gets an unverified answer as valid."""
    if call.filters.verifiable_only and outcome.verification.status == FAILED:
        v = outcome.verification
        raise ResponseNotVerified(outcome.provider, v.chat_id, v.reason)
