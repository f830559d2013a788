"""Background upkeep: expire stale reservations and prune old rate-limit entries."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.quota.model import RateRule
from services.quota.store import ratelimit, reservations
from zerog_db import CONNECTION_ERRORS
from zerog_grpc import Clock

log = logging.getLogger(__name__)


class Sweeper:
    """Runs every `interval` seconds until stopped; one failed sweep never stops the next."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        rate_limits: list[RateRule],
        interval: float,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._rate_limits = rate_limits
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """Expire every reservation past its deadline; return how many."""
        now = self._clock()
        expired = total = await reservations.expire_due(self._pool, now)
        while expired:
            expired = await reservations.expire_due(self._pool, now)
            total += expired
        await ratelimit.prune(self._pool, now, self._rate_limits)
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
            await asyncio.sleep(self._interval)
