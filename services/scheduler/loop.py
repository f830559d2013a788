"""The scheduling loop: plan due runs, work through users, send the outbox, on every replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from services.scheduler.dispatcher import Dispatcher
from services.scheduler.planner import Planner
from services.scheduler.summaries import SummaryKeeper
from services.scheduler.worker import Worker
from zerog_db import CONNECTION_ERRORS

log = logging.getLogger(__name__)


@dataclass(eq=False)
class SchedulerLoop:
    """Ticks every `interval` seconds; a tick is also callable directly (tests drive the clock)."""

    planner: Planner
    worker: Worker
    dispatcher: Dispatcher
    interval: float
    # Stores summaries on 0G Storage; None when no storage service is configured.
    keeper: SummaryKeeper | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def tick(self) -> None:
        """One pass: create due runs, process every due user, attempt every due delivery, then
        store every due summary (last: storage never holds a delivery back)."""
        await self.planner.plan()
        while not self._stop.is_set() and await self.worker.run_batch():
            pass
        while not self._stop.is_set() and await self.dispatcher.run_batch():
            pass
        while self.keeper and not self._stop.is_set() and await self.keeper.run_batch():
            pass

    def wake(self) -> None:
        """Tick now rather than at the end of the interval (new deliveries are waiting)."""
        self._wake.set()

    def start(self) -> None:
        """Run ticks in the background until stop()."""
        self._task = asyncio.create_task(self._run(), name="scheduler-loop")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except CONNECTION_ERRORS as error:
                log.warning("database unavailable, retrying", extra={"error": type(error).__name__})
            except Exception:
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def stop(self, grace: float | None = None) -> None:
        """Let the current batch finish (up to `grace` seconds), then stop.

        Work cut off here is safe: its leases run out and any replica resumes it.
        """
        self._stop.set()
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
