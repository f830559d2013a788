"""Background upkeep: expire stale reservations and leases, prune old rate-limit entries and
refresh the usage gauges."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg

from services.quota.metrics import UsageGauges
from services.quota.model import RateRule
from services.quota.store import leases, ratelimit, reservations
from zerog_db import CONNECTION_ERRORS
from zerog_grpc import Clock

log = logging.getLogger(__name__)


@dataclass
class Sweeper:
    """Runs every `interval` seconds until stopped; one failed sweep never stops the next."""

    pool: asyncpg.Pool
    clock: Clock
    rate_limits: list[RateRule]
    interval: float
    gauges: UsageGauges | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    async def sweep(self) -> int:
        """Expire every reservation and lease past its deadline; return how many."""
        now = self.clock()
        total = 0
        for expire in (reservations.expire_due, leases.expire_due):
            expired = await expire(self.pool, now)
            total += expired
            while expired:
                expired = await expire(self.pool, now)
                total += expired
        await ratelimit.prune(self.pool, now, self.rate_limits)
        if self.gauges is not None:
            await self.gauges.refresh(self.pool, self.clock)
        if total:
            log.info("expired reservations", extra={"count": total})
        return total

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except CONNECTION_ERRORS as error:
                log.warning(
                    "sweep skipped, database unavailable", extra={"error": type(error).__name__}
                )
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(self.interval)
