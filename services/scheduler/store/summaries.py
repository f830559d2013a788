"""SQL for summaries kept on 0G Storage: claim those due, link the stored object, or back off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.scheduler.model import Kind
from services.scheduler.summary_storage import StoredObject, Summary
from zerog_db import Executor

# What the narrator writes summaries for; alerts are delivered and not kept.
SUMMARY_KINDS = frozenset({Kind.DAILY_DIGEST, Kind.WEEKLY_SUMMARY})


def initial_state(kind: Kind, storage_configured: bool) -> str:
    """A new notification's summary_state."""
    if kind not in SUMMARY_KINDS:
        return "not_kept"
    return "pending" if storage_configured else "not_configured"


@dataclass(frozen=True)
class DueSummary:
    """A notification whose summary is still to be stored, claimed until its retry time."""

    notification_id: int
    attempts: int
    summary: Summary


async def claim(db: Executor, now: datetime, lease_until: datetime, limit: int) -> list[DueSummary]:
    """Up to `limit` pending summaries due by `now`, held until `lease_until` (another replica
    skips them meanwhile; a crash leaves them to be claimed again then)."""
    rows = await db.fetch(
        """
        WITH c AS (
            UPDATE notifications SET summary_retry_at = $2, summary_attempts = summary_attempts + 1
            WHERE id IN (
                SELECT id FROM notifications
                WHERE summary_state = 'pending' AND summary_retry_at <= $1
                ORDER BY summary_retry_at LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING id, work_item_id, user_id, job, kind, period_key, title, body,
                summary_attempts
        )
        SELECT c.*, w.run_id FROM c JOIN work_items w ON w.id = c.work_item_id ORDER BY c.id
        """,
        now,
        lease_until,
        limit,
    )
    return [
        DueSummary(
            r["id"],
            r["summary_attempts"],
            Summary(
                r["run_id"],
                r["user_id"],
                r["job"],
                r["kind"],
                r["period_key"],
                r["title"],
                r["body"],
            ),
        )
        for r in rows
    ]


async def stored(db: Executor, notification_id: int, stored_object: StoredObject) -> None:
    """The summary is stored: the notification says so and each of its deliveries links it."""
    await db.execute(
        """
        WITH n AS (
            UPDATE notifications SET summary_state = 'stored', summary_retry_at = NULL,
                summary_error = ''
            WHERE id = $1 AND summary_state = 'pending'
            RETURNING id
        )
        UPDATE deliveries SET summary_namespace = $2, summary_name = $3, summary_version = $4,
            summary_root = $5
        WHERE notification_id IN (SELECT id FROM n)
        """,
        notification_id,
        stored_object.namespace,
        stored_object.name,
        stored_object.version,
        stored_object.root,
    )


async def failed(db: Executor, notification_id: int, error: str, retry_at: datetime) -> None:
    """Storing failed: try again at `retry_at` (summaries are kept, so never given up)."""
    await db.execute(
        """
        UPDATE notifications SET summary_retry_at = $2, summary_error = $3
        WHERE id = $1 AND summary_state = 'pending'
        """,
        notification_id,
        retry_at,
        error[:500],
    )
