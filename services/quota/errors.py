"""Quota's domain errors, one base, each named for what went wrong, and the map that turns each
into the status and typed details its callers see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import grpc

from services.quota.model import RateRule, Unit
from zerog_grpc import (
    KERNEL_ERRORS,
    ErrorMap,
    Failure,
    InvalidRequest,
    error_info,
    precondition_failure,
    quota_failure,
    retry_info,
)
from zerog_grpc.errormap import Rule

Code = grpc.StatusCode


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


class ReservationError(QuotaError):
    """Something about one reservation: the message says what."""

    def __init__(self, reservation_id: str, message: str) -> None:
        super().__init__(f"reservation {reservation_id} {message}")
        self.reservation_id = reservation_id


class ReservationNotFound(ReservationError):
    """No reservation has that id."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(reservation_id, "not found")


class ReservationNotOwned(ReservationError):
    """Another service made the reservation."""

    def __init__(self, reservation_id: str, owner: str) -> None:
        super().__init__(reservation_id, f"belongs to service {owner!r}")
        self.owner = owner


class ReservationFinished(ReservationError):
    """The reservation is no longer reserved (committed, released or expired)."""

    def __init__(self, reservation_id: str, state: str) -> None:
        super().__init__(reservation_id, f"is {state}")
        self.state = state


class LeaseRefused(QuotaError):
    """A lease's spend or return was refused; `reason` (its ErrorInfo reason) says why."""

    def __init__(self, lease_id: str, reason: str, message: str) -> None:
        super().__init__(f"lease {lease_id} {message}")
        self.lease_id, self.reason = lease_id, reason


class CommitItemNotReserved(InvalidRequest):
    """A committed item's unit and price_key were not reserved (so it has no price)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__(problems, "invalid CommitRequest")


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


class RateGrantNotFound(QuotaError):
    """No rate grant has that id (or it was pruned after its windows)."""

    def __init__(self, grant_id: str) -> None:
        super().__init__(f"rate grant {grant_id} not found")
        self.grant_id = grant_id


class RateGrantNotOwned(QuotaError):
    """Another service took the rate grant."""

    def __init__(self, grant_id: str, owner: str) -> None:
        super().__init__(f"rate grant {grant_id} belongs to service {owner!r}")
        self.grant_id, self.owner = grant_id, owner


class RateLimited(QuotaError):
    """A rate limit rule refused the call."""

    def __init__(self, subject: str, rule: RateRule, retry_after: timedelta) -> None:
        super().__init__(
            f"{subject}: at most {rule.max_requests} calls of {rule.method} "
            f"per {rule.window_seconds} s"
        )
        self.subject, self.rule, self.retry_after = subject, rule, retry_after


def _naming(code: Code, reason: str, attribute: str) -> Rule:
    """`code` with an ErrorInfo(reason) that names the error's `attribute`."""
    return lambda e: Failure(
        code, str(e), (error_info(reason, **{attribute: getattr(e, attribute)}),)
    )


def _exceeded(error: QuotaExceeded) -> Failure:
    return Failure(
        Code.RESOURCE_EXHAUSTED,
        str(error),
        (
            quota_failure(f"{error.subject}:{error.unit.value}", str(error)),
            error_info(
                "QUOTA_EXCEEDED",
                unit=error.unit.value,
                limit=str(error.limit),
                available=str(error.available),
                requested=str(error.requested),
            ),
        ),
    )


def _rate_limited(error: RateLimited) -> Failure:
    return Failure(
        Code.RESOURCE_EXHAUSTED,
        str(error),
        (
            quota_failure(f"{error.subject}:{error.rule.method}", str(error)),
            retry_info(max(error.retry_after.total_seconds(), 0.001)),
            error_info(
                "RATE_LIMITED",
                window_seconds=str(error.rule.window_seconds),
                max_requests=str(error.rule.max_requests),
            ),
        ),
    )


_LEASE_CODES = {
    "LEASE_NOT_FOUND": Code.NOT_FOUND,
    "LEASE_NOT_OWNED": Code.PERMISSION_DENIED,
    "SPEND_ID_REUSED": Code.FAILED_PRECONDITION,
}


def _lease_refused(error: LeaseRefused) -> Failure:
    return Failure(
        _LEASE_CODES[error.reason], str(error), (error_info(error.reason, lease_id=error.lease_id),)
    )


def _finished(error: ReservationFinished) -> Failure:
    reason = f"RESERVATION_{error.state.upper()}"
    return Failure(
        Code.FAILED_PRECONDITION,
        str(error),
        (
            precondition_failure(reason, f"reservation:{error.reservation_id}", str(error)),
            error_info(reason, reservation_id=error.reservation_id),
        ),
    )


ERRORS: ErrorMap = {
    **KERNEL_ERRORS,
    QuotaExceeded: _exceeded,
    RateLimited: _rate_limited,
    ReservationNotFound: _naming(Code.NOT_FOUND, "RESERVATION_NOT_FOUND", "reservation_id"),
    ReservationNotOwned: _naming(Code.PERMISSION_DENIED, "RESERVATION_NOT_OWNED", "reservation_id"),
    ReservationFinished: _finished,
    LeaseRefused: _lease_refused,
    TierNotFound: _naming(Code.NOT_FOUND, "TIER_NOT_FOUND", "tier"),
    RateLimitNotFound: _naming(Code.NOT_FOUND, "RATE_LIMIT_NOT_FOUND", "method"),
    RateGrantNotFound: _naming(Code.NOT_FOUND, "RATE_GRANT_NOT_FOUND", "grant_id"),
    RateGrantNotOwned: _naming(Code.PERMISSION_DENIED, "RATE_GRANT_NOT_OWNED", "grant_id"),
}
