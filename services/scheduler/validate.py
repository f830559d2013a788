"""Request checks: each adds 'field -> problem' entries, so one BadRequest lists them all."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import httpx

from services.scheduler.errors import BadPageToken
from services.scheduler.schedule import BadSchedule, check_cron, zone
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import request_ids

Problems = dict[str, str]
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_KINDS = {
    pb.NOTIFICATION_KIND_DAILY_DIGEST,
    pb.NOTIFICATION_KIND_WEEKLY_SUMMARY,
    pb.NOTIFICATION_KIND_PERFORMANCE_ALERT,
    pb.NOTIFICATION_KIND_QUOTA_ALERT,
}


def name(problems: Problems, field: str, value: str, required: bool = True) -> None:
    """A short printable identifier."""
    if not value:
        if required:
            problems[field] = "required"
    elif len(value) > 200 or not value.isprintable():
        problems[field] = "must be 1-200 printable characters"


def request_id(problems: Problems, field: str, value: str) -> None:
    """An idempotency key under the rule every service shares (zerog_grpc.request_ids)."""
    problem = request_ids.check(value)
    if problem is not None:
        problems[field] = problem


def page_size(problems: Problems, value: int) -> None:
    if not 0 <= value <= 500:
        problems["page_size"] = "must be between 0 and 500"


def time_zone(problems: Problems, field: str, value: str) -> None:
    try:
        zone(value)
    except BadSchedule:
        # Echo at most a name's worth: a 10 kB value would overflow the client's header limit.
        problems[field] = f"unknown IANA time zone {value[:64]!r}"


def cron(problems: Problems, field: str, value: str) -> None:
    try:
        check_cron(value)
    except BadSchedule as error:
        problems[field] = str(error)


def preferences(problems: Problems, prefs: pb.UserPreferences) -> None:
    """Every field of a UserPreferences message."""
    name(problems, "preferences.user_id", prefs.user_id)
    time_zone(problems, "preferences.time_zone", prefs.time_zone)
    if prefs.HasField("quiet_hours"):
        for field in ("start_minute", "end_minute"):
            if not 0 <= getattr(prefs.quiet_hours, field) <= 1439:
                problems[f"preferences.quiet_hours.{field}"] = "must be between 0 and 1439"
    if any(kind not in _KINDS for kind in prefs.enabled):
        problems["preferences.enabled"] = "unknown notification kind"
    if prefs.webhook_url:
        try:
            url = httpx.URL(prefs.webhook_url)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            problems["preferences.webhook_url"] = "must be an http or https URL"
    if prefs.email and (len(prefs.email) > 254 or not _EMAIL.match(prefs.email)):
        problems["preferences.email"] = "must be an email address"
    if not 0 <= prefs.alert_threshold_bps <= 100000:
        problems["preferences.alert_threshold_bps"] = "must be between 0 and 100000"


def snapshot(problems: Problems, snap: pb.PortfolioSnapshot) -> None:
    """A PortfolioSnapshot: user, time, non-negative money, unique symbols, decimal quantities."""
    name(problems, "snapshot.user_id", snap.user_id)
    if not snap.HasField("as_of"):
        problems["snapshot.as_of"] = "required"
    if snap.cash_micro_usd < 0:
        problems["snapshot.cash_micro_usd"] = "must not be negative"
    if len(snap.positions) > 1000:
        problems["snapshot.positions"] = "at most 1000 positions"
    seen: set[str] = set()
    for i, position in enumerate(snap.positions):
        field = f"snapshot.positions[{i}]"
        name(problems, f"{field}.symbol", position.symbol)
        if position.symbol in seen:
            problems[f"{field}.symbol"] = "duplicate symbol"
        seen.add(position.symbol)
        try:
            quantity = Decimal(position.quantity)
            if not quantity.is_finite() or quantity < 0:
                raise InvalidOperation
        except InvalidOperation:
            problems[f"{field}.quantity"] = "must be a non-negative decimal"
        if position.price_micro_usd < 0:
            problems[f"{field}.price_micro_usd"] = "must not be negative"
        if position.previous_close_micro_usd < 0:
            problems[f"{field}.previous_close_micro_usd"] = "must not be negative"


def news(problems: Problems, items: Sequence[pb.NewsItem]) -> None:
    """1-500 news items with ids, symbols, headlines and publication times."""
    if not 1 <= len(items) <= 500:
        problems["items"] = "between 1 and 500 items"
    for i, item in enumerate(items):
        name(problems, f"items[{i}].id", item.id)
        if not item.symbols:
            problems[f"items[{i}].symbols"] = "at least one symbol"
        if not item.headline:
            problems[f"items[{i}].headline"] = "required"
        if not item.HasField("published_at"):
            problems[f"items[{i}].published_at"] = "required"


def encode_token(*parts: str) -> str:
    """An opaque page token."""
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_token(token: str, count: int) -> list[str]:
    """The parts of a page token, or BadPageToken."""
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise BadPageToken(token) from None
    if len(parts) != count:
        raise BadPageToken(token)
    return parts


def token_time(text: str) -> datetime:
    """A timestamp inside a page token."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise BadPageToken(text) from None
