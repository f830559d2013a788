"""Quota's own request checks; each adds what it finds to a zerog_grpc Problems."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import timedelta

from google.protobuf.message import Message

from services.quota.convert import UNIT_FROM_PB
from services.quota.model import METERED_UNITS
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Problems

# Windows are stored in an integer column.
MAX_WINDOW_SECONDS = 2**31 - 1
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_METERED = {value for value, unit in UNIT_FROM_PB.items() if unit in METERED_UNITS}


def names(request: Message, *required: str, optional: tuple[str, ...] = ()) -> Problems:
    """Problems of `request`'s name fields (subjects, tiers, methods): the ones checked first."""
    problems = Problems()
    for field in (*required, *optional):
        problems.name(field, getattr(request, field), required=field in required)
    return problems


def reservation_id(problems: Problems, field: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        problems.add(field, "must be a reservation id (a UUID)")


def metered_unit(problems: Problems, field: str, unit: int) -> None:
    if unit not in _METERED:
        problems.add(field, "must be UNIT_STORAGE_BYTES or UNIT_COMPUTE_TOKENS")


def usage_items(
    problems: Problems, field: str, items: Iterable[pb.UsageItem], need_positive: bool
) -> None:
    any_positive = False
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        metered_unit(problems, f"{where}.unit", item.unit)
        problems.not_negative(f"{where}.amount", item.amount)
        any_positive = any_positive or item.amount > 0
        problems.name(f"{where}.price_key", item.price_key, required=False)
    if need_positive and not any_positive:
        problems.add(field, "at least one item with a positive amount is required")


def limits(problems: Problems, field: str, value: pb.Limits) -> None:
    for part in ("storage_bytes", "compute_tokens", "cost_micro_usd"):
        if value.HasField(part):
            problems.not_negative(f"{field}.{part}", getattr(value, part))


def period(problems: Problems, value: str) -> None:
    """A `period` field: empty (this month) or a calendar month."""
    if value and not _PERIOD.match(value):
        problems.add("period", "must be a calendar month YYYY-MM")


def ttl(
    problems: Problems,
    request: pb.ReserveRequest | pb.AcquireLeaseRequest,
    default: timedelta,
    most: timedelta,
) -> timedelta:
    """How long to hold a reservation or lease: the request's ttl, or `default`; at most `most`."""
    if not request.HasField("ttl"):
        return default
    held = problems.duration("ttl", request.ttl)
    if not timedelta(0) < held <= most:
        problems.add("ttl", f"must be positive and at most {int(most.total_seconds())} s")
    return held


def rate_window(problems: Problems, field: str, value: timedelta) -> int:
    """A rule's window: whole seconds, at least 1, at most what the column holds."""
    seconds = value.total_seconds()
    if not (1 <= seconds <= MAX_WINDOW_SECONDS and seconds == int(seconds)):
        problems.add(field, "must be a whole number of seconds, at least 1")
    return int(seconds)


def any_window(problems: Problems, field: str, value: timedelta) -> int:
    """A window to look a rule up by: anything the column could hold."""
    if not 0 <= value.total_seconds() <= MAX_WINDOW_SECONDS:
        problems.add(field, f"must be between 0 and {MAX_WINDOW_SECONDS} s")
    return int(value.total_seconds())
