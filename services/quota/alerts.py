"""Quota alerts: raised once per subject, unit, month and level, and fanned out to watchers.

Alerts are rows first (the unique key makes them exactly-once across replicas) and a NOTIFY second,
so a watcher that reconnects resumes from the table and misses nothing. They are raised inside
each Commit by commit_reservation() (migration 004) at the model's WARNING_PERCENT and
CRITICAL_PERCENT of a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from services.quota.model import Alert
from services.quota.store.alerts import alerts_after

log = logging.getLogger(__name__)
CHANNEL = "quota_alerts"


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
