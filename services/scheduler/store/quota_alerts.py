"""Quota alerts as stored: one row per alert id, and the notification made from it."""

from __future__ import annotations

from datetime import datetime

from services.scheduler.model import Kind, QuotaAlert
from zerog_db import Connection, Executor

JOB = "quota_alerts"


async def last_alert_id(db: Executor) -> int:
    """Where a watch resumes: the largest alert id any replica stored."""
    return int(await db.fetchval("SELECT coalesce(max(alert_id), 0) FROM quota_alerts"))


async def insert(conn: Connection, alert: QuotaAlert, now: datetime) -> bool:
    """Store the alert; False when a replica stored it already (the primary key makes the
    second insert wait for the first's transaction and then do nothing)."""
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
    return inserted is not None


async def set_outcome(conn: Connection, alert_id: int, outcome: str) -> None:
    """'notified', or why no notification was made."""
    await conn.execute(
        "UPDATE quota_alerts SET outcome = $2 WHERE alert_id = $1", alert_id, outcome
    )


async def notify(
    conn: Connection,
    alert: QuotaAlert,
    text: tuple[str, str],
    channels: tuple[str, ...],
    now: datetime,
) -> None:
    """The alert's notification (`text` is its title and body) and one delivery a channel."""
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
        *text,
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
