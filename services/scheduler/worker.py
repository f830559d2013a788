"""Processes due work items: batches of users, bounded and measured concurrency, retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.background import Background
from services.scheduler.config import Tuning
from services.scheduler.content import BatchData, Outcome
from services.scheduler.model import WorkItem
from services.scheduler.store import outcomes, runs, summaries
from zerog_db import Executor

log = logging.getLogger(__name__)


class Composing(Protocol):
    """What the worker needs to turn a work item into an outcome (content.Composer)."""

    async def load(self, items: Sequence[WorkItem], now: datetime) -> BatchData: ...

    async def compose(self, item: WorkItem, batch: BatchData, now: datetime) -> Outcome: ...


class LeaseLost(Exception):
    """Another worker took the item over after our lease expired; our result is dropped."""


@dataclass
class Concurrency:
    """Counts users in flight on this replica and remembers the highest count per run."""

    active: int = 0
    highest: int = 0
    per_run: dict[int, int] = field(default_factory=dict)

    def enter(self, run_id: int) -> None:
        self.active += 1
        self.highest = max(self.highest, self.active)
        self.per_run[run_id] = max(self.per_run.get(run_id, 0), self.active)

    def leave(self) -> None:
        self.active -= 1


def backoff(tuning: Tuning, attempts: int) -> timedelta:
    """Exponential delay before attempt `attempts + 1`, capped."""
    seconds = tuning.retry_base_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, tuning.retry_max_seconds))


class Worker:
    """Claims batches of work items (FOR UPDATE SKIP LOCKED) and processes each user once."""

    def __init__(
        self, parts: Background, composer: Composing, keeps_summaries: bool = False
    ) -> None:
        self._composer = composer
        self._parts = parts
        # Whether a storage service keeps summaries (the SummaryKeeper stores them later).
        self._keeps_summaries = keeps_summaries
        self._limit = asyncio.Semaphore(parts.tuning.concurrency_limit)
        self.concurrency = Concurrency()

    async def drain(self) -> int:
        """Process batches until nothing is due; return how many items were processed."""
        total = 0
        while processed := await self.run_batch():
            total += processed
        return total

    async def run_batch(self) -> int:
        """Claim one batch and process it; return its size."""
        now, lease_until = self._parts.lease()
        items = await runs.claim(self._parts.pool, now, lease_until, self._parts.tuning.batch_size)
        if not items:
            return 0
        batch = await self._composer.load(items, now)
        self.concurrency.per_run.clear()
        await asyncio.gather(*(self._process(item, batch) for item in items))
        for run_id, observed in self.concurrency.per_run.items():
            await runs.record_concurrency(self._parts.pool, run_id, observed)
        for job, duration in await runs.finish_runs(
            self._parts.pool, sorted({i.run_id for i in items}), self._parts.clock()
        ):
            self._parts.metrics.job_duration.labels(job).observe(duration)
        return len(items)

    async def _process(self, item: WorkItem, batch: BatchData) -> None:
        async with self._limit:
            self.concurrency.enter(item.run_id)
            self._parts.metrics.concurrency.inc()
            self._parts.metrics.max_concurrency.set(self.concurrency.highest)
            try:
                await self._attempt(item, batch)
            except LeaseLost:
                log.warning("lease lost", extra={"work_item": item.id})
            except Exception as error:  # a failed user is retried alone, never the batch
                try:
                    await self._retry(item, error)
                except Exception:
                    # Left running: its lease expires and another pass picks it up.
                    log.exception("could not record a failure", extra={"work_item": item.id})
            finally:
                self.concurrency.leave()
                self._parts.metrics.concurrency.dec()

    async def _attempt(self, item: WorkItem, batch: BatchData) -> None:
        outcome = await self._composer.compose(item, batch, self._parts.clock())
        now = self._parts.clock()
        if outcome.alert is None:
            # One statement each: atomic without a transaction's extra round trips.
            done = await self._finish(self._parts.pool, item, outcome, now)
        else:
            async with self._parts.pool.acquire() as conn, conn.transaction():
                day, direction = outcome.alert
                await outcomes.set_alert_direction(conn, item.user_id, day, direction, now)
                done = await self._finish(conn, item, outcome, now)
                if not done:
                    raise LeaseLost(item.id)  # rolls the alert state back too
        if not done:
            raise LeaseLost(item.id)
        self._parts.metrics.users_processed.labels(item.job).inc()
        if outcome.content is not None and outcome.content.degraded:
            self._parts.metrics.degraded.labels(item.kind.value).inc()

    async def _finish(self, db: Executor, item: WorkItem, outcome: Outcome, now: datetime) -> bool:
        if outcome.content is not None:
            state = summaries.initial_state(item.kind, self._keeps_summaries)
            return await outcomes.complete(db, item, outcome.content, outcome.channels, now, state)
        return await outcomes.skip(db, item, outcome.reason, now)

    async def _retry(self, item: WorkItem, error: Exception) -> None:
        now = self._parts.clock()
        final = item.attempts >= self._parts.tuning.max_attempts
        retry_at = None if final else now + backoff(self._parts.tuning, item.attempts)
        log.warning(
            "user failed" if final else "user failed, will retry",
            extra={"work_item": item.id, "attempts": item.attempts, "error": type(error).__name__},
        )
        await outcomes.retry_or_fail(
            self._parts.pool, item, f"{type(error).__name__}: {error}", retry_at, now
        )
        if final:
            self._parts.metrics.users_processed.labels(item.job).inc()
            self._parts.metrics.job_failures.labels(item.job).inc()
        else:
            self._parts.metrics.user_retries.labels(item.job).inc()
