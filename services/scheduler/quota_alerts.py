"""Quota alerts as notifications: stored once by quota's alert id, then queued in the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.scheduler import users
from services.scheduler.figures import usd
from services.scheduler.model import Kind, User
from zerog_db import Connection, Executor

JOB = "quota_alerts"

_UNITS = {
    "storage_bytes": ("storage", "bytes of storage"),
    "compute_tokens": ("monthly compute tokens", "compute tokens"),
    "cost_micro_usd": ("monthly spending limit", ""),
}


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


def describe(alert: QuotaAlert) -> tuple[str, str]:
    """The title and body: the exact figures, identical on every channel."""
    what, counted = _UNITS.get(alert.unit, (alert.unit, alert.unit))
    percent = alert.used * 100 // alert.limit if alert.limit else 100
    if alert.level == "critical":
        title = f"Quota reached: you have used all of your {what}"
        after = "Further requests are refused until the limit is raised or the period ends."
    else:
        title = f"Quota warning: {percent}% of your {what} used"
        after = "At 100% further requests are refused."
    if alert.unit == "cost_micro_usd":
        amount = f"{usd(alert.used)} of {usd(alert.limit)}"
    else:
        amount = f"{alert.used:,} of {alert.limit:,} {counted}"
    body = f"You have used {amount} ({percent}%) in {alert.period}.\n{after}"
    return title, body


def _outcome(alert: QuotaAlert, user: User | None) -> tuple[str, tuple[str, ...]]:
    if not alert.user_id:
        return "not a user subject", ()
    if user is None:
        return "unknown user", ()
    if Kind.QUOTA_ALERT not in user.enabled:
        return "notification disabled", ()
    channels = tuple(
        name for name, target in (("webhook", user.webhook_url), ("email", user.email)) if target
    )
    return ("notified", channels) if channels else ("no channel", ())


async def last_alert_id(db: Executor) -> int:
    """Where a watch resumes: the largest alert id any replica stored."""
    return int(await db.fetchval("SELECT coalesce(max(alert_id), 0) FROM quota_alerts"))


async def record(pool: asyncpg.Pool, alert: QuotaAlert, now: datetime) -> str | None:
    """Store the alert and, if the user wants it, its notification and deliveries, atomically.

    Returns the outcome ('notified' or why not), or None when a replica stored it already: the
    primary key makes the second insert wait for the first and then do nothing.
    """
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            """
            INSERT INTO quota_alerts (alert_id, subject, user_id, unit, level, period, used,
                limit_amount, raised_at, received_at, outcome)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '')
            ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id
            """,
            alert.alert_id,
            alert.subject,
            alert.user_id,
            alert.unit,
            alert.level,
            alert.period,
            alert.used,
            alert.limit,
            alert.raised_at,
            now,
        )
        if inserted is None:
            return None
        found = await users.users_by_id(conn, [alert.user_id]) if alert.user_id else {}
        outcome, channels = _outcome(alert, found.get(alert.user_id))
        await conn.execute(
            "UPDATE quota_alerts SET outcome = $2 WHERE alert_id = $1", alert.alert_id, outcome
        )
        if channels:
            await _notify(conn, alert, channels, now)
    return outcome


async def _notify(
    conn: Connection, alert: QuotaAlert, channels: tuple[str, ...], now: datetime
) -> None:
    title, body = describe(alert)
    figures = {
        "alert_id": alert.alert_id,
        "unit": alert.unit,
        "level": alert.level,
        "period": alert.period,
        "used": alert.used,
        "limit": alert.limit,
    }
    notification_id = await conn.fetchval(
        """
        INSERT INTO notifications (quota_alert_id, user_id, job, kind, period_key, title, body,
            degraded, figures, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9) RETURNING id
        """,
        alert.alert_id,
        alert.user_id,
        JOB,
        Kind.QUOTA_ALERT.value,
        f"{alert.period}:{alert.unit}:{alert.level}",
        title,
        body,
        figures,
        now,
    )
    await conn.execute(
        """
        INSERT INTO deliveries (notification_id, user_id, channel, next_attempt_at, created_at)
        SELECT $1, $2, c, $3, $3 FROM unnest($4::text[]) AS c
        """,
        notification_id,
        alert.user_id,
        now,
        list(channels),
    )
