"""SQL of alerts: commit_reservation() (migration 004) raises them; watchers read them here."""

from __future__ import annotations

import asyncpg

from services.quota.model import Alert, Unit


def _alert(row: asyncpg.Record) -> Alert:
    return Alert(
        row["alert_id"],
        row["subject"],
        Unit(row["unit"]),
        row["level"],
        row["period"],
        row["used"],
        row["limit_amount"],
        row["created_at"],
    )


async def alerts_after(
    pool: asyncpg.Pool, after_id: int, subject: str, limit: int = 500
) -> list[Alert]:
    """Stored alerts with a larger id, oldest first."""
    rows = await pool.fetch(
        "SELECT * FROM alerts WHERE alert_id > $1 AND ($2 = '' OR subject = $2)"
        " ORDER BY alert_id LIMIT $3",
        after_id,
        subject,
        limit,
    )
    return [_alert(row) for row in rows]
