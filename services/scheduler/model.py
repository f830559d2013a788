"""Plain values the scheduler passes around: jobs, users, snapshots, news and work."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class Kind(enum.StrEnum):
    """What a job makes and what a user may enable."""

    DAILY_DIGEST = "daily_digest"
    WEEKLY_SUMMARY = "weekly_summary"
    PERFORMANCE_ALERT = "performance_alert"
    # Not a job: made from the quota service's alert stream.
    QUOTA_ALERT = "quota_alert"


class Trigger(enum.StrEnum):
    """Why a run started."""

    SCHEDULE = "schedule"
    CATCH_UP = "catch_up"
    MANUAL = "manual"


@dataclass(frozen=True)
class JobSpec:
    """A job as configured: name, kind, cron and the zone it is read in ('' = user's own)."""

    name: str
    kind: Kind
    cron: str
    time_zone: str
    misfire_grace: timedelta


@dataclass(frozen=True)
class Job:
    """A job as stored."""

    name: str
    kind: Kind
    cron: str
    time_zone: str
    misfire_grace: timedelta
    paused: bool
    not_before: datetime


@dataclass(frozen=True)
class QuietHours:
    """A daily local window (minutes after midnight) when nothing is delivered."""

    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class User:
    """A user's preferences."""

    user_id: str
    time_zone: str
    quiet_hours: QuietHours | None
    enabled: frozenset[Kind]
    webhook_url: str
    email: str
    alert_threshold_bps: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Position:
    """One holding; quantity is a decimal string, prices are micro-dollars."""

    symbol: str
    quantity: str
    price_micro_usd: int
    previous_close_micro_usd: int


@dataclass(frozen=True)
class Snapshot:
    """A user's portfolio at one moment."""

    user_id: str
    as_of: datetime
    cash_micro_usd: int
    positions: tuple[Position, ...]


@dataclass(frozen=True)
class NewsItem:
    """A news story about some symbols."""

    id: str
    symbols: tuple[str, ...]
    headline: str
    summary: str
    url: str
    published_at: datetime


@dataclass(frozen=True)
class WorkItem:
    """One user's share of a run, claimed under a lease."""

    id: int
    run_id: int
    job: str
    kind: Kind
    user_id: str
    period_key: str
    attempts: int
    lease_token: str
    scheduled_for: datetime


@dataclass(frozen=True)
class Content:
    """A notification's text and the figures it was built from."""

    title: str
    body: str
    degraded: bool
    figures: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class QuotaAlert:
    """One alert as quota raised it (unit and level as quota names them)."""

    alert_id: int
    subject: str
    unit: str
    level: str
    period: str
    used: int
    limit: int
    raised_at: datetime

    @property
    def user_id(self) -> str:
        """The scheduler user the subject names; '' for subjects that are not users."""
        kind, _, rest = self.subject.partition(":")
        return rest if kind == "user" else ""
