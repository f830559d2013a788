"""Request validation: collect every bad field, then refuse once with one BadRequest.

    problems = Problems()
    problems.request_id("request_id", request.request_id)
    problems.required("subject", request.subject)
    if request.amount < 0:
        problems["amount"] = "must not be negative"
    problems.raise_if_any("invalid ReserveRequest")

`Problems` is a dict (field -> description), so a service's own checks add to it directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from zerog_grpc import request_ids

MAX_NAME = 256


class InvalidRequest(ValueError):
    """A request names bad fields; the error map answers INVALID_ARGUMENT with a BadRequest."""

    def __init__(self, problems: Mapping[str, str], message: str = "invalid request") -> None:
        super().__init__(message)
        self.problems = dict(problems)


class Problems(dict[str, str]):
    """Field -> what is wrong with it; the first problem found for a field is kept."""

    def add(self, field: str, description: str) -> None:
        self.setdefault(field, description)

    def raise_if_any(self, message: str = "invalid request") -> None:
        """Raise InvalidRequest naming every problem found, if there is any."""
        if self:
            raise InvalidRequest(self, message)

    def request_id(self, field: str, value: str) -> None:
        """The request_id rule every service shares (zerog_grpc.request_ids)."""
        problem = request_ids.check(value)
        if problem is not None:
            self.add(field, problem)

    def required(self, field: str, value: object) -> None:
        if not value:
            self.add(field, "required")

    def name(self, field: str, value: str, *, required: bool = True, limit: int = MAX_NAME) -> None:
        """A short printable identifier (a subject, a user id, a key)."""
        if not value:
            if required:
                self.add(field, "required")
        elif len(value) > limit or not value.isprintable():
            self.add(field, f"must be 1-{limit} printable characters")

    def not_negative(self, field: str, value: int) -> None:
        if value < 0:
            self.add(field, "must not be negative")

    def within(self, field: str, value: int, low: int, high: int) -> None:
        if not low <= value <= high:
            self.add(field, f"must be between {low} and {high}")

    def duration(self, field: str, value: Duration) -> timedelta:
        """The Duration as a timedelta; out of range is a problem (and zero)."""
        try:
            return value.ToTimedelta()
        except (ValueError, OverflowError):
            self.add(field, "is not a valid duration")
            return timedelta(0)

    def timestamp(self, field: str, value: Timestamp) -> datetime | None:
        """The Timestamp as an aware datetime; out of range is a problem (and None)."""
        try:
            return value.ToDatetime(UTC)
        except (ValueError, OverflowError):
            self.add(field, "is not a valid timestamp")
            return None
