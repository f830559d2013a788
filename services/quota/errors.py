"""Quota's domain errors, one base, each named for what went wrong."""

from __future__ import annotations

from datetime import timedelta

from services.quota.model import RateRule, Unit


class QuotaError(Exception):
    """Base of every quota domain error."""


class QuotaExceeded(QuotaError):
    """A reservation would take a subject past a limit."""

    def __init__(self, subject: str, unit: Unit, limit: int, available: int, requested: int):
        super().__init__(
            f"{subject}: {unit.value} limit {limit}, {available} available, {requested} requested"
        )
        self.subject, self.unit, self.limit = subject, unit, limit
        self.available, self.requested = available, requested


class RequestIdReused(QuotaError):
    """A request_id came back with a different request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was used for a different request")
        self.request_id = request_id


class ReservationNotFound(QuotaError):
    """No reservation has that id."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id} not found")
        self.reservation_id = reservation_id


class ReservationNotOwned(QuotaError):
    """Another service made the reservation."""

    def __init__(self, reservation_id: str, owner: str) -> None:
        super().__init__(f"reservation {reservation_id} belongs to service {owner!r}")
        self.reservation_id, self.owner = reservation_id, owner


class ReservationFinished(QuotaError):
    """The reservation is no longer reserved (committed, released or expired)."""

    def __init__(self, reservation_id: str, state: str) -> None:
        super().__init__(f"reservation {reservation_id} is {state}")
        self.reservation_id, self.state = reservation_id, state


class CommitItemNotReserved(QuotaError):
    """A committed item's unit and price_key were not reserved (so it has no price)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("commit names items that were not reserved")
        self.problems = problems


class TierNotFound(QuotaError):
    """No tier has that name."""

    def __init__(self, tier: str) -> None:
        super().__init__(f"tier {tier!r} not found")
        self.tier = tier


class RateLimitNotFound(QuotaError):
    """No stored rate limit rule matches."""

    def __init__(self, method: str, window_seconds: int) -> None:
        super().__init__(f"no rate limit for {method!r} over {window_seconds} s")
        self.method, self.window_seconds = method, window_seconds


class RateLimited(QuotaError):
    """A rate limit rule refused the call."""

    def __init__(self, subject: str, rule: RateRule, retry_after: timedelta) -> None:
        super().__init__(
            f"{subject}: at most {rule.max_requests} calls of {rule.method} "
            f"per {rule.window_seconds} s"
        )
        self.subject, self.rule, self.retry_after = subject, rule, retry_after
