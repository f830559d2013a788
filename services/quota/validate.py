"""Request validation: every problem of a request at once, as field -> description."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from services.quota.convert import UNIT_FROM_PB
from services.quota.model import METERED_UNITS
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import request_ids

Problems = dict[str, str]

MAX_NAME = 256
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_METERED = {value for value, unit in UNIT_FROM_PB.items() if unit in METERED_UNITS}


def name(problems: Problems, field: str, value: str, required: bool = True) -> None:
    """A subject, method, request id or key: non-empty if required, short, printable."""
    if not value:
        if required:
            problems[field] = "required"
    elif len(value) > MAX_NAME:
        problems[field] = f"at most {MAX_NAME} characters"
    elif not value.isprintable():
        problems[field] = "must be printable text"


def request_id(problems: Problems, field: str, value: str) -> None:
    """An idempotency key under the rule every service shares (zerog_grpc.request_ids)."""
    problem = request_ids.check(value)
    if problem is not None:
        problems[field] = problem


def reservation_id(problems: Problems, field: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        problems[field] = "must be a reservation id (a UUID)"


def metered_unit(problems: Problems, field: str, unit: int) -> None:
    if unit not in _METERED:
        problems[field] = "must be UNIT_STORAGE_BYTES or UNIT_COMPUTE_TOKENS"


def usage_items(
    problems: Problems, field: str, items: Iterable[pb.UsageItem], need_positive: bool
) -> None:
    any_positive = False
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        metered_unit(problems, f"{where}.unit", item.unit)
        if item.amount < 0:
            problems[f"{where}.amount"] = "must not be negative"
        any_positive = any_positive or item.amount > 0
        name(problems, f"{where}.price_key", item.price_key, required=False)
    if need_positive and not any_positive and field not in problems:
        problems[field] = "at least one item with a positive amount is required"


def limits(problems: Problems, field: str, value: pb.Limits) -> None:
    for part in ("storage_bytes", "compute_tokens", "cost_micro_usd"):
        if value.HasField(part) and getattr(value, part) < 0:
            problems[f"{field}.{part}"] = "must not be negative"


def period(problems: Problems, field: str, value: str) -> None:
    if value and not _PERIOD.match(value):
        problems[field] = "must be a calendar month YYYY-MM"


def duration(problems: Problems, field: str, value: Duration) -> timedelta:
    """The Duration as a timedelta; out of range (or invalid) is a problem and zero."""
    try:
        return value.ToTimedelta()
    except (ValueError, OverflowError):
        problems[field] = "is not a valid duration"
        return timedelta(0)


def timestamp(problems: Problems, field: str, value: Timestamp) -> datetime | None:
    """The Timestamp as an aware datetime; out of range (or invalid) is a problem and None."""
    try:
        return value.ToDatetime(UTC)
    except (ValueError, OverflowError):
        problems[field] = "is not a valid timestamp"
        return None
