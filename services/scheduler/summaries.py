"""Stores pending summaries on 0G Storage after their deliveries are queued, retrying outages."""

from __future__ import annotations

import asyncio
import logging

from services.scheduler.background import Background
from services.scheduler.store import summaries
from services.scheduler.store.summaries import DueSummary
from services.scheduler.summary_storage import StorageFailed, SummaryStorage
from services.scheduler.worker import backoff

log = logging.getLogger(__name__)


class SummaryKeeper:
    """Claims due summaries (FOR UPDATE SKIP LOCKED) and makes one attempt at storing each.

    The loop runs it after the dispatcher, so a slow or absent storage service never delays a
    delivery; a failed attempt is retried with the worker's backoff, on any replica."""

    def __init__(self, parts: Background, storage: SummaryStorage) -> None:
        self._parts = parts
        self._storage = storage
        self._limit = asyncio.Semaphore(parts.tuning.delivery_concurrency)

    async def run_batch(self) -> int:
        """Claim one batch of due summaries and attempt each; return how many were stored.

        The loop asks for batches while this is not 0: with storage down or hanging, a tick
        spends at most one call timeout here, and the next tick's deliveries are not held up."""
        now, lease = self._parts.lease()
        due = await summaries.claim(self._parts.pool, now, lease, self._parts.tuning.delivery_batch)
        results = await asyncio.gather(*(self._store(d) for d in due))
        return sum(results)

    async def _store(self, due: DueSummary) -> bool:
        async with self._limit:
            try:
                stored = await self._storage.put(due.summary)
            except StorageFailed as error:
                await self._failed(due, error)
                return False
            await summaries.stored(self._parts.pool, due.notification_id, stored)
            self._parts.metrics.summaries_stored.inc()
            return True

    async def _failed(self, due: DueSummary, error: StorageFailed) -> None:
        self._parts.metrics.summary_store_failures.labels(error.code).inc()
        retry_at = self._parts.clock() + backoff(self._parts.tuning, due.attempts)
        log.warning(
            "summary not stored, will retry",
            extra={
                "notification": due.notification_id,
                "attempts": due.attempts,
                "code": error.code,
            },
        )
        await summaries.failed(self._parts.pool, due.notification_id, str(error), retry_at)
