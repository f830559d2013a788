"""The outbox: claim due deliveries, record each attempt, list delivery records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.scheduler.model import Kind
from zerog_db import Executor


@dataclass(frozen=True)
class Delivery:
    """One notification on one channel, with the notification's content."""

    id: str
    notification_id: int
    user_id: str
    job: str
    kind: Kind
    channel: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str
    title: str
    body: str
    degraded: bool
    figures: dict[str, object]
    period_key: str
    created_at: datetime
    # The notification's summary on 0G Storage: state, and the object once stored.
    summary_state: str = "not_kept"
    summary_namespace: str = ""
    summary_name: str = ""
    summary_version: int = 0
    summary_root: str = ""


_SELECT = """
    SELECT d.id::text AS id, d.notification_id, d.user_id, n.job, n.kind, d.channel, d.state,
        d.attempts, d.next_attempt_at, d.delivered_at, d.last_error, n.title, n.body, n.degraded,
        n.figures, n.period_key, d.created_at, n.summary_state, d.summary_namespace,
        d.summary_name, d.summary_version, d.summary_root
    FROM deliveries d JOIN notifications n ON n.id = d.notification_id
"""


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(**{**dict(row), "kind": Kind(row["kind"])})


async def claim(db: Executor, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
    """Lease up to `limit` due deliveries (pending or deferred, next attempt reached)."""
    rows = await db.fetch(
        f"""
        WITH c AS (
            UPDATE deliveries SET lease_until = $2
            WHERE id IN (
                SELECT id FROM deliveries
                WHERE state IN ('pending', 'deferred') AND next_attempt_at <= $1
                    AND (lease_until IS NULL OR lease_until <= $1)
                ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
            RETURNING id
        )
        {_SELECT} WHERE d.id IN (SELECT id FROM c) ORDER BY d.next_attempt_at
        """,
        now,
        lease_until,
        limit,
    )
    return [_delivery(r) for r in rows]


async def _update(db: Executor, delivery_id: str, assignments: str, *args: object) -> None:
    """Set `assignments` (parameters from $2) on a delivery and let its lease go."""
    await db.execute(
        f"UPDATE deliveries SET {assignments}, lease_until = NULL WHERE id = $1::uuid",
        delivery_id,
        *args,
    )


async def sent(db: Executor, delivery_id: str, now: datetime) -> None:
    """The channel accepted it."""
    await _update(
        db,
        delivery_id,
        "state = 'sent', attempts = attempts + 1, delivered_at = $2, last_error = ''",
        now,
    )


async def attempt_failed(
    db: Executor, delivery_id: str, error: str, retry_at: datetime | None
) -> None:
    """An attempt failed: retry at `retry_at`, or fail for good when it is None."""
    await _update(
        db,
        delivery_id,
        "attempts = attempts + 1, last_error = $2,"
        " state = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,"
        " next_attempt_at = coalesce($3, next_attempt_at)",
        error[:500],
        retry_at,
    )


async def defer(db: Executor, delivery_id: str, until: datetime) -> None:
    """Hold it back (quiet hours) without counting an attempt."""
    await _update(db, delivery_id, "state = 'deferred', next_attempt_at = $2", until)


async def suppress(db: Executor, delivery_id: str, reason: str) -> None:
    """Never send it (notification disabled, user or channel removed)."""
    await _update(db, delivery_id, "state = 'suppressed', last_error = $2", reason)


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters and page of ListDeliveries."""

    user_id: str = ""
    job: str = ""
    state: str = ""
    before: tuple[datetime, str] | None = None
    limit: int = 50


async def list_deliveries(db: Executor, query: DeliveryQuery) -> list[Delivery]:
    """Delivery records newest first (created_at, id), after the page cursor."""
    before_time, before_id = query.before or (None, "")
    rows = await db.fetch(
        f"""{_SELECT}
        WHERE ($1 = '' OR d.user_id = $1) AND ($2 = '' OR n.job = $2) AND ($3 = '' OR d.state = $3)
          AND ($4::timestamptz IS NULL OR (d.created_at, d.id::text) < ($4, $5))
        ORDER BY d.created_at DESC, d.id::text DESC LIMIT $6""",
        query.user_id,
        query.job,
        query.state,
        before_time,
        before_id,
        query.limit,
    )
    return [_delivery(r) for r in rows]


async def counts(db: Executor) -> dict[str, int]:
    """Deliveries per state, and open work items and runs, for GetSchedulerStatus."""
    row = await db.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM deliveries WHERE state = 'pending') AS pending,
            (SELECT count(*) FROM deliveries WHERE state = 'deferred') AS deferred,
            (SELECT count(*) FROM deliveries WHERE state = 'failed') AS failed,
            (SELECT count(*) FROM work_items WHERE state IN ('pending', 'running')) AS work,
            (SELECT count(*) FROM runs WHERE finished_at IS NULL) AS runs
        """
    )
    assert row is not None
    return dict(row)
