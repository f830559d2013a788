"""Refuse requests no service can act on: NUL in text, Timestamps and Durations out of range.

PostgreSQL text cannot hold NUL, and protobuf's well-known time types convert to Python only
inside their documented ranges. Checking every request here, once, keeps those failures from
surfacing as INTERNAL in whichever service forgot to check a field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from zerog_grpc.errors import abort, bad_request
from zerog_grpc.handlers import Context, Handler, WrappingInterceptor

# google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
# google/protobuf/duration.proto: about +-10,000 years.
_DURATION_SECONDS = 315_576_000_000
_NANOS = 999_999_999
_MAX_PROBLEMS = 20


def malformed_fields(message: Message) -> dict[str, str]:
    """Field path -> what is wrong, for every field of `message` no service could accept."""
    problems: dict[str, str] = {}
    _walk(message, "", problems)
    return problems


def _walk(message: Message, prefix: str, problems: dict[str, str]) -> None:
    full_name = message.DESCRIPTOR.full_name
    if full_name == "google.protobuf.Timestamp":
        _check_timestamp(message, prefix, problems)
        return
    if full_name == "google.protobuf.Duration":
        _check_duration(message, prefix, problems)
        return
    for field, value in message.ListFields():
        if len(problems) >= _MAX_PROBLEMS:
            return
        path = f"{prefix}{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            for key, item in value.items():
                _check_value(entry["key"], key, f"{path}[{key!r}]", problems)
                _check_value(entry["value"], item, f"{path}[{key!r}]", problems)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _check_value(field, item, f"{path}[{index}]", problems)
        else:
            _check_value(field, value, path, problems)


def _check_value(field: FieldDescriptor, value: Any, path: str, problems: dict[str, str]) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        _walk(value, f"{path}.", problems)
    elif field.type == FieldDescriptor.TYPE_STRING and "\x00" in value:
        problems[path] = "must not contain NUL characters"


def _check_timestamp(message: Any, path: str, problems: dict[str, str]) -> None:
    low, high = _TIMESTAMP_SECONDS
    if not low <= message.seconds <= high or not 0 <= message.nanos <= _NANOS:
        problems[path.rstrip(".")] = "timestamp outside 0001-01-01 .. 9999-12-31"


def _check_duration(message: Any, path: str, problems: dict[str, str]) -> None:
    seconds, nanos = message.seconds, message.nanos
    mixed_signs = (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0)
    if abs(seconds) > _DURATION_SECONDS or abs(nanos) > _NANOS or mixed_signs:
        problems[path.rstrip(".")] = "duration outside +-10,000 years or with mixed signs"


class RefuseMalformed(WrappingInterceptor):
    """INVALID_ARGUMENT with a BadRequest for requests that carry what no service can store."""

    def wraps(self, method: str, handler: Handler) -> bool:
        # Streamed requests are the services' to check message by message (PutObject's
        # chunks are bytes; its header is validated by the storage service).
        return not handler.request_streaming

    @asynccontextmanager
    async def around(
        self, method: str, request: Any, context: Context, *, streaming: bool
    ) -> AsyncIterator[None]:
        await _refuse_if_malformed(request, context)
        yield


async def _refuse_if_malformed(request: Any, context: Context) -> None:
    if isinstance(request, Message) and (problems := malformed_fields(request)):
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid {request.DESCRIPTOR.name}",
            bad_request(problems),
        )
