"""Verification and retention on a schedule: once per period across all storage replicas.

No RPC starts them. Every replica wakes at each period boundary and tries to claim the period
in job_runs; the one whose insert succeeds runs it, the others go back to sleep. A replica
that dies mid-run leaves its period unfinished (finished_at NULL): the next period's pass checks
what it did not, since a pass takes every content not checked within one period.

A content newly found degraded or lost raises an alert: the counter
zerog_storage_flagged_objects_total{state} (deploy/prometheus-rules.yml pages on it) and an
ERROR log line naming the root and the objects that point at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from services.storage import quota_returns
from services.storage.backups import Backups
from services.storage.model import VerifyState
from services.storage.remote import QuotaClient
from services.storage.store import job_runs, namespaces, objects
from zerog_grpc import Clock

log = logging.getLogger(__name__)
_BAD = (VerifyState.DEGRADED, VerifyState.LOST)


class JobMetrics:
    """What the scheduled jobs did, and the alert counter."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs = Counter(
            "zerog_storage_scheduled_runs_total",
            "Scheduled job periods this replica claimed and ran",
            ("job",),
            registry=registry,
        )
        self.checked = Counter(
            "zerog_storage_contents_checked_total",
            "Contents whose replicas a scheduled verification pass checked",
            registry=registry,
        )
        self.flagged = Counter(
            "zerog_storage_flagged_objects_total",
            "Contents newly found degraded or lost (an alert each)",
            ("state",),
            registry=registry,
        )
        self.retired = Counter(
            "zerog_storage_retention_versions_total",
            "Versions retention deleted, by rule (expired, pruned)",
            ("rule",),
            registry=registry,
        )


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Periodic:
    """The loop of one replica."""

    pool: asyncpg.Pool
    backups: Backups
    quota: QuotaClient | None
    metrics: JobMetrics
    period: timedelta
    batch: int
    clock: Clock
    replica: str = field(default_factory=_replica_id)
    _task: asyncio.Task[None] | None = None

    def period_start(self, now: datetime) -> datetime:
        """The start of the period `now` falls in (periods are aligned to the epoch)."""
        seconds = self.period.total_seconds()
        return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)

    def start(self) -> None:
        """Run in the background until stop()."""
        self._task = asyncio.create_task(self._loop(), name="storage-periodic")

    async def stop(self) -> None:
        """Stop the loop (a run cut short is checked again next period)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            start = self.period_start(self.clock())
            try:
                await self.run_period(start)
            except Exception:
                # The next period tries again; a failing pass must not stop the schedule.
                log.exception("scheduled storage job failed", extra={"period": start.isoformat()})
            wait = (start + self.period - self.clock()).total_seconds()
            await asyncio.sleep(max(wait, 0.0))

    async def run_period(self, start: datetime) -> None:
        """Verification, then retention, for the period beginning at `start`, if we win them."""
        if await job_runs.claim(self.pool, "verification", start, self.replica):
            self.metrics.runs.labels("verification").inc()
            checked, flagged = await self.verify()
            await job_runs.finish(self.pool, "verification", start, checked, flagged)
        if await job_runs.claim(self.pool, "retention", start, self.replica):
            self.metrics.runs.labels("retention").inc()
            expired, pruned = await self.retain()
            await job_runs.finish(self.pool, "retention", start, expired + pruned, 0)

    async def verify(self) -> tuple[int, int]:
        """Check the contents not checked within a period; alert on newly flagged ones."""
        # Due: every content not checked since this period began (a fixed `period` ago would
        # skip one whose last check ran a little later into its period than this one).
        since_start = self.clock() - self.period_start(self.clock())
        results = await self.backups.run(None, since_start, self.batch)
        self.metrics.checked.inc(len(results))
        flagged = 0
        for content, outcome in results:
            if outcome.state not in _BAD or content.verify_state in _BAD:
                continue  # healthy, or already alerted when it first went bad
            flagged += 1
            names = [
                f"{o.namespace}/{o.name}@{o.version}"
                for o in await objects.of_roots(self.pool, [content.root])
            ]
            log.error(
                "storage objects flagged",
                extra={
                    "alert": "StorageObjectsFlagged",
                    "root": "0x" + content.root.hex(),
                    "state": outcome.state.value,
                    "detail": outcome.detail,
                    "objects": names,
                    "replica": self.replica,
                },
            )
            self.metrics.flagged.labels(outcome.state.value).inc()
        return len(results), flagged

    async def retain(self) -> tuple[int, int]:
        """Apply every namespace's retention, then give deleted versions' bytes back to quota."""
        async with self.pool.acquire() as conn, conn.transaction():
            expired, pruned = await self.backups.retention(conn, None)
        self.metrics.retired.labels("expired").inc(expired)
        self.metrics.retired.labels("pruned").inc(pruned)
        for name in await namespaces.all_names(self.pool):
            await quota_returns.give_back(self.pool, self.quota, name)
        return expired, pruned
