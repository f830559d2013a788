"""Conversions every service makes between its own types and protobuf's."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

E = TypeVar("E", bound=Enum)
V = TypeVar("V", bound=int)


def timestamp(moment: datetime) -> Timestamp:
    """An aware datetime as a Timestamp (naive datetimes are taken as UTC)."""
    stamp = Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo is None else moment.astimezone(UTC))
    return stamp


def timestamp_ms(ms: int) -> Timestamp:
    """Unix milliseconds as a Timestamp."""
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def enum_pairs(
    kind: type[E], values: _EnumTypeWrapper[V], prefix: str
) -> tuple[dict[E, V], dict[V, E]]:
    """(ours -> proto value, proto value -> ours) for an enum whose proto values are named
    `prefix + member name` (Permission.READ <-> PERMISSION_READ in pb.Permission); a member
    without one is a programming error, found at import."""
    to_pb = {member: values.Value(f"{prefix}{member.name}") for member in kind}
    return to_pb, {value: member for member, value in to_pb.items()}
