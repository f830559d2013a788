"""The scheduler's own request checks: each adds 'field -> problem' entries to a Problems."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import httpx

from services.scheduler.convert import KIND_FROM_PB
from services.scheduler.schedule import BadSchedule, check_cron, zone
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import Problems

# Names (users, jobs, symbols, news ids) are at most this long.
NAME = 200
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def name(problems: Problems, field: str, value: str, required: bool = True) -> None:
    """A short printable identifier."""
    problems.name(field, value, required=required, limit=NAME)


def named(field: str, value: str) -> Problems:
    """The problems of a request that names one user or job in `field`."""
    problems = Problems()
    name(problems, field, value)
    return problems


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
            value = getattr(prefs.quiet_hours, field)
            problems.within(f"preferences.quiet_hours.{field}", value, 0, 1439)
    if any(kind not in KIND_FROM_PB for kind in prefs.enabled):
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
    problems.within("preferences.alert_threshold_bps", prefs.alert_threshold_bps, 0, 100000)


def snapshot(problems: Problems, snap: pb.PortfolioSnapshot) -> None:
    """A PortfolioSnapshot: user, time, non-negative money, unique symbols, decimal quantities."""
    name(problems, "snapshot.user_id", snap.user_id)
    if not snap.HasField("as_of"):
        problems["snapshot.as_of"] = "required"
    problems.not_negative("snapshot.cash_micro_usd", snap.cash_micro_usd)
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
        problems.not_negative(f"{field}.price_micro_usd", position.price_micro_usd)
        problems.not_negative(
            f"{field}.previous_close_micro_usd", position.previous_close_micro_usd
        )


def news(problems: Problems, items: Sequence[pb.NewsItem]) -> None:
    """1-500 news items with ids, symbols, headlines and publication times."""
    if not 1 <= len(items) <= 500:
        problems["items"] = "between 1 and 500 items"
    for i, item in enumerate(items):
        name(problems, f"items[{i}].id", item.id)
        if not item.symbols:
            problems[f"items[{i}].symbols"] = "at least one symbol"
        problems.required(f"items[{i}].headline", item.headline)
        if not item.HasField("published_at"):
            problems[f"items[{i}].published_at"] = "required"
