"""Once for work that may take longer than any fixed lease (an upload): the claim is renewed
while the work runs, so a short lease frees a dead replica's claim soon and a live one's never.

Used by PutObject and RecoverObject. The lead may move it into zerog_db.Once (a `renew_every`
option of `run`); it only adds the renewal around what `Once.run` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from services.storage.store import claims
from zerog_db import Claim, Once, Request

M = TypeVar("M", bound=Message)
log = logging.getLogger(__name__)


class RenewedOnce:
    """`Once.run` with the claim's lease renewed every third of it until the work ends."""

    def __init__(self, pool: asyncpg.Pool, lease: timedelta) -> None:
        self._pool = pool
        self.once = Once(pool, lease=lease)

    async def run(
        self, request: Request, response_type: type[M], work: Callable[[], Awaitable[M]]
    ) -> M:
        """`work()` once for `request`, its answer stored; the stored answer for a retry."""
        got = await self.once.claim(request)
        if isinstance(got, bytes):
            return response_type.FromString(got)
        renewing = asyncio.create_task(self._renew(got))
        try:
            answer = await work()
            await self.once.finish(got, answer)
        except BaseException:
            await self.once.release(got)
            raise
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        return answer

    async def _renew(self, claim: Claim) -> None:
        every = self.once.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                if not await claims.renew(self._pool, claim, self.once.lease):
                    return
            except (OSError, asyncpg.PostgresError) as error:
                # The next round tries again; the lease is three rounds long.
                log.warning("claim renewal failed", extra={"error": type(error).__name__})
