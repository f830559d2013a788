"""Quota alerts: raised once per subject, unit, month and level, and fanned out to watchers.

Alerts are rows first (the unique key makes them exactly-once across replicas) and a NOTIFY second,
so a watcher that reconnects resumes from the table and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from services.quota.model import (
    CRITICAL_PERCENT,
    WARNING_PERCENT,
    Alert,
    Limits,
    Unit,
    usage_period,
)
from zerog_db import Connection

log = logging.getLogger(__name__)
CHANNEL = "quota_alerts"
_LEVELS = (("warning", WARNING_PERCENT), ("critical", CRITICAL_PERCENT))


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


async def raise_alerts(
    conn: Connection, subject: str, month: str, limits: Limits, now: datetime
) -> list[Alert]:
    """Raise the alerts a subject's committed usage in `month` has earned and not yet had."""
    raised: list[Alert] = []
    limited = [unit for unit in Unit if limits.of(unit)]
    if not limited:
        return raised
    # One round trip for every limited unit's usage (this runs inside each Commit).
    rows = await conn.fetch(
        "SELECT unit, used FROM usage WHERE subject = $1 AND (unit, period) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[]))",
        subject,
        [unit.value for unit in limited],
        [usage_period(unit, month) for unit in limited],
    )
    found = {r["unit"]: r["used"] for r in rows}
    for unit in limited:
        limit = limits.of(unit)
        assert limit is not None
        used = found.get(unit.value)
        for level, percent in _LEVELS:
            if used is None or used * 100 < limit * percent:
                continue
            row = await conn.fetchrow(
                """
                INSERT INTO alerts (subject, unit, period, level, used, limit_amount, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (subject, unit, period, level) DO NOTHING RETURNING *
                """,
                subject,
                unit.value,
                month,
                level,
                used,
                limit,
                now,
            )
            if row is not None:
                raised.append(_alert(row))
                # Delivered at commit, so watchers never see an alert that was rolled back.
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(row["alert_id"]))
    return raised


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


class AlertHub:
    """Listens for alert notifications on one connection and wakes every watcher."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._closed = False
        # Replaced on every notification: a watcher holding the old one sees it set.
        self._news = asyncio.Event()

    async def start(self) -> None:
        """Open the listening connection."""
        self._conn = await asyncpg.connect(self._dsn)
        await self._conn.add_listener(CHANNEL, self._on_notify)

    async def close(self) -> None:
        """Close the listening connection and end every watch, so a draining server can stop."""
        self._closed = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self._on_notify()

    def _on_notify(self, *_: object) -> None:
        news, self._news = self._news, asyncio.Event()
        news.set()

    async def watch(
        self, after_id: int, subject: str, poll_seconds: float = 5.0
    ) -> AsyncIterator[Alert]:
        """Stored alerts after `after_id`, then new ones as they are raised, until closed."""
        last = after_id
        while not self._closed:
            # Taken before reading, so a notification that lands during the read is not lost.
            news = self._news
            for alert in await alerts_after(self._pool, last, subject):
                last = alert.alert_id
                yield alert
            # The timeout covers a lost LISTEN connection: polling still finds new rows.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), poll_seconds)
