"""SQL that ends one user's work item: a notification with its outbox rows, a skip, a retry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from services.scheduler.model import Content, WorkItem
from zerog_db import Connection, Executor

# One statement, so it is atomic without a transaction: the item is done only together with its
# notification and deliveries, and only if this worker still holds the lease.
_COMPLETE = """
WITH w AS (
    UPDATE work_items SET state = 'done', finished_at = $3, degraded = $7, lease_until = NULL
    WHERE id = $1 AND lease_token = $2 AND state = 'running'
    RETURNING id, user_id, job, period_key
), n AS (
    INSERT INTO notifications (work_item_id, user_id, job, kind, period_key, title, body,
        degraded, figures, created_at, summary_state, summary_retry_at)
    SELECT w.id, w.user_id, w.job, $4, w.period_key, $5, $6, $7, $8, $3, $10,
        CASE WHEN $10 = 'pending' THEN $3 END
    FROM w
    ON CONFLICT (work_item_id) DO NOTHING
    RETURNING id, user_id
), d AS (
    INSERT INTO deliveries (notification_id, user_id, channel, next_attempt_at, created_at)
    SELECT n.id, n.user_id, c, $3, $3 FROM n, unnest($9::text[]) AS c
    RETURNING 1
)
SELECT (SELECT count(*) FROM w) AS claimed, (SELECT count(*) FROM d) AS deliveries
"""


async def complete(
    db: Executor,
    item: WorkItem,
    content: Content,
    channels: Sequence[str],
    now: datetime,
    summary_state: str = "not_kept",
) -> bool:
    """Record the notification and queue its deliveries; False if the lease was lost.
    `summary_state` 'pending' makes its summary due for storing now."""
    row = await db.fetchrow(
        _COMPLETE,
        item.id,
        item.lease_token,
        now,
        item.kind.value,
        content.title,
        content.body,
        content.degraded,
        content.figures,
        list(channels),
        summary_state,
    )
    assert row is not None
    return bool(row["claimed"])


async def skip(db: Executor, item: WorkItem, reason: str, now: datetime) -> bool:
    """Nothing to send for this user this period."""
    result = await db.execute(
        """
        UPDATE work_items SET state = 'skipped', finished_at = $3, last_error = $4,
            lease_until = NULL
        WHERE id = $1 AND lease_token = $2 AND state = 'running'
        """,
        item.id,
        item.lease_token,
        now,
        reason,
    )
    return result != "UPDATE 0"


async def retry_or_fail(
    db: Executor, item: WorkItem, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Put the item back for a later attempt, or fail it when `retry_at` is None."""
    await db.execute(
        """
        UPDATE work_items SET
            state = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            available_at = coalesce($3, available_at), last_error = $4, lease_until = NULL,
            finished_at = CASE WHEN $3::timestamptz IS NULL THEN $5::timestamptz END
        WHERE id = $1 AND lease_token = $2 AND state = 'running'
        """,
        item.id,
        item.lease_token,
        retry_at,
        error[:500],
        now,
    )


async def alert_direction(db: Executor, user_id: str, trading_date: date) -> int:
    """The direction (-1, 0, 1) the user's day change was past the threshold at the last check."""
    value = await db.fetchval(
        "SELECT direction FROM alert_state WHERE user_id = $1 AND trading_date = $2",
        user_id,
        trading_date,
    )
    return int(value or 0)


async def set_alert_direction(
    conn: Connection, user_id: str, trading_date: date, direction: int, now: datetime
) -> None:
    """Remember where the user's day change stood at this check."""
    await conn.execute(
        """
        INSERT INTO alert_state (user_id, trading_date, direction, updated_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (user_id) DO UPDATE SET trading_date = $2, direction = $3, updated_at = $4
        """,
        user_id,
        trading_date,
        direction,
        now,
    )
