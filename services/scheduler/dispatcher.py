"""Sends the outbox: honours preferences and quiet hours, retries with backoff, records each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from services.scheduler import outbox, users
from services.scheduler.channels import EmailSender, SendFailed, WebhookSender
from services.scheduler.config import Tuning
from services.scheduler.metrics import SchedulerMetrics
from services.scheduler.model import User
from services.scheduler.outbox import Delivery
from services.scheduler.quiet import quiet_until

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class Dispatcher:
    """Claims due deliveries (FOR UPDATE SKIP LOCKED) and makes one attempt at each."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        webhook: WebhookSender,
        email: EmailSender,
        tuning: Tuning,
        clock: Clock,
        metrics: SchedulerMetrics,
    ) -> None:
        self._pool = pool
        self._webhook = webhook
        self._email = email
        self._tuning = tuning
        self._clock = clock
        self._metrics = metrics
        self._limit = asyncio.Semaphore(tuning.delivery_concurrency)

    async def drain(self) -> int:
        """Attempt batches until nothing is due; return how many deliveries were handled."""
        total = 0
        while handled := await self.run_batch():
            total += handled
        return total

    async def run_batch(self) -> int:
        """Claim one batch of due deliveries and attempt each."""
        now = self._clock()
        lease = now + timedelta(seconds=self._tuning.lease_seconds)
        due = await outbox.claim(self._pool, now, lease, self._tuning.delivery_batch)
        if not due:
            return 0
        found = await users.users_by_id(self._pool, list({d.user_id for d in due}))
        await asyncio.gather(*(self._handle(d, found.get(d.user_id)) for d in due))
        return len(due)

    async def _handle(self, delivery: Delivery, user: User | None) -> None:
        async with self._limit:
            try:
                await self._attempt(delivery, user)
            except Exception:
                # Left leased: the lease runs out and a later pass tries again.
                log.exception("delivery bookkeeping failed", extra={"delivery": delivery.id})

    async def _attempt(self, delivery: Delivery, user: User | None) -> None:
        now = self._clock()
        if user is None:
            await outbox.suppress(self._pool, delivery.id, "user deleted")
            return
        if delivery.kind not in user.enabled:
            await outbox.suppress(self._pool, delivery.id, "notification disabled")
            return
        target = user.webhook_url if delivery.channel == "webhook" else user.email
        if not target:
            await outbox.suppress(self._pool, delivery.id, f"{delivery.channel} channel removed")
            return
        until = quiet_until(now, user.time_zone, user.quiet_hours)
        if until is not None:
            await outbox.defer(self._pool, delivery.id, until)
            self._metrics.deferred.labels(delivery.channel).inc()
            return
        sender = self._webhook if delivery.channel == "webhook" else self._email
        try:
            await sender.send(delivery, target)
        except SendFailed as error:
            await self._failed(delivery, error)
            return
        await outbox.sent(self._pool, delivery.id, self._clock())
        self._metrics.notifications_sent.labels(delivery.kind.value, delivery.channel).inc()

    async def _failed(self, delivery: Delivery, error: SendFailed) -> None:
        self._metrics.delivery_failures.labels(delivery.channel).inc()
        attempts = delivery.attempts + 1
        retry_at = None
        if error.retryable and attempts < self._tuning.delivery_max_attempts:
            seconds = self._tuning.delivery_retry_base_seconds * 2 ** (attempts - 1)
            delay = min(seconds, self._tuning.delivery_retry_max_seconds)
            retry_at = self._clock() + timedelta(seconds=delay)
        log.warning(
            "delivery attempt failed",
            extra={"delivery": delivery.id, "attempts": attempts, "error": str(error)},
        )
        await outbox.attempt_failed(self._pool, delivery.id, str(error), retry_at)
