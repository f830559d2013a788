"""From a chat request to a validated ChatCall: request ids, limits, the budget subject."""

from __future__ import annotations

import math

from services.inference import convert
from services.inference.chat import FAILED, ChatCall, ChatOutcome
from services.inference.errors import ResponseNotVerified
from services.inference.faults import Context
from services.inference.retry import Clock, Deadline
from services.inference.routing import Strategy
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import current_caller

DEFAULT_MAX_TOKENS, MAX_MAX_TOKENS = 512, 32768
MAX_REQUEST_ID = 100


def subject_of(given: str) -> str:
    """The budget to charge: as given, else the JWT's user, else the calling service."""
    caller = current_caller()
    return given or (f"user:{caller.user}" if caller.user else f"service:{caller.service}")


def check_request_id(problems: dict[str, str], field: str, value: str) -> None:
    if not value:
        problems[field] = "required"
    elif len(value) > MAX_REQUEST_ID or not value.isprintable():
        problems[field] = f"at most {MAX_REQUEST_ID} printable characters"


def build_call(
    request: pb.ChatCompletionRequest,
    context: Context,
    clock: Clock,
    *,
    operation: str = "chat.completion",
    problems: dict[str, str] | None = None,
) -> tuple[ChatCall | None, dict[str, str]]:
    """A ChatCall from a request, or the problems found (every one of them)."""
    problems = {} if problems is None else problems
    check_request_id(problems, "request_id", request.request_id)
    if not request.messages:
        problems["messages"] = "at least one message is required"
    for i, m in enumerate(request.messages):
        if m.role not in convert.ROLES:
            problems[f"messages[{i}].role"] = "must be system, user or assistant"
        if not m.content.strip():
            problems[f"messages[{i}].content"] = "must not be empty"
    if request.HasField("temperature") and not (
        math.isfinite(request.temperature) and 0 <= request.temperature <= 2
    ):
        problems["temperature"] = "must be between 0 and 2"
    max_tokens = request.max_tokens if request.HasField("max_tokens") else DEFAULT_MAX_TOKENS
    if not 1 <= max_tokens <= MAX_MAX_TOKENS:
        problems["max_tokens"] = f"must be between 1 and {MAX_MAX_TOKENS}"
    if problems:
        return None, problems
    caller = current_caller()
    return ChatCall(
        request_id=f"{caller.service}/{request.request_id}",
        subject=subject_of(request.subject),
        user=caller.user,
        model=request.model,
        messages=[{"role": convert.ROLES[m.role], "content": m.content} for m in request.messages],
        max_tokens=max_tokens,
        deadline=Deadline.after(clock, context.time_remaining()),
        temperature=request.temperature if request.HasField("temperature") else None,
        strategy=convert.STRATEGIES.get(request.routing.strategy, Strategy.COST),
        filters=convert.filters(request.model, request.routing),
        operation=operation,
    ), problems


def refuse_unverified(call: ChatCall, outcome: ChatOutcome) -> None:
    """A caller that asked for verifiable providers never gets an unverified answer as valid."""
    if call.filters.verifiable_only and outcome.verification.status == FAILED:
        v = outcome.verification
        raise ResponseNotVerified(outcome.provider, v.chat_id, v.reason)
