"""Sends the outbox: honours preferences and quiet hours, retries with backoff, records each."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.scheduler.background import Background
from services.scheduler.channels import EmailSender, SendFailed, WebhookSender
from services.scheduler.model import User
from services.scheduler.quiet import quiet_until
from services.scheduler.store import outbox, users
from services.scheduler.store.outbox import Delivery

log = logging.getLogger(__name__)


class Dispatcher:
    """Claims due deliveries (FOR UPDATE SKIP LOCKED) and makes one attempt at each."""

    def __init__(self, parts: Background, webhook: WebhookSender, email: EmailSender) -> None:
        self._parts = parts
        self._webhook = webhook
        self._email = email
        self._limit = asyncio.Semaphore(parts.tuning.delivery_concurrency)

    async def run_batch(self) -> int:
        """Claim one batch of due deliveries and attempt each."""
        now, lease = self._parts.lease()
        due = await outbox.claim(self._parts.pool, now, lease, self._parts.tuning.delivery_batch)
        if not due:
            return 0
        found = await users.users_by_id(self._parts.pool, list({d.user_id for d in due}))
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
        now = self._parts.clock()
        if user is None:
            await outbox.suppress(self._parts.pool, delivery.id, "user deleted")
            return
        if delivery.kind not in user.enabled:
            await outbox.suppress(self._parts.pool, delivery.id, "notification disabled")
            return
        target = user.webhook_url if delivery.channel == "webhook" else user.email
        if not target:
            await outbox.suppress(
                self._parts.pool, delivery.id, f"{delivery.channel} channel removed"
            )
            return
        until = quiet_until(now, user.time_zone, user.quiet_hours)
        if until is not None:
            await outbox.defer(self._parts.pool, delivery.id, until)
            self._parts.metrics.deferred.labels(delivery.channel).inc()
            return
        sender = self._webhook if delivery.channel == "webhook" else self._email
        try:
            await sender.send(delivery, target)
        except SendFailed as error:
            await self._failed(delivery, error)
            return
        await outbox.sent(self._parts.pool, delivery.id, self._parts.clock())
        self._parts.metrics.notifications_sent.labels(delivery.kind.value, delivery.channel).inc()

    async def _failed(self, delivery: Delivery, error: SendFailed) -> None:
        self._parts.metrics.delivery_failures.labels(delivery.channel).inc()
        attempts = delivery.attempts + 1
        retry_at = None
        if error.retryable and attempts < self._parts.tuning.delivery_max_attempts:
            seconds = self._parts.tuning.delivery_retry_base_seconds * 2 ** (attempts - 1)
            delay = min(seconds, self._parts.tuning.delivery_retry_max_seconds)
            retry_at = self._parts.clock() + timedelta(seconds=delay)
        log.warning(
            "delivery attempt failed",
            extra={"delivery": delivery.id, "attempts": attempts, "error": str(error)},
        )
        await outbox.attempt_failed(self._parts.pool, delivery.id, str(error), retry_at)
