"""What the background parts (planner, worker, dispatcher) share, built once by the server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.scheduler.config import Tuning
from services.scheduler.metrics import SchedulerMetrics
from zerog_grpc.clock import Clock


@dataclass(frozen=True)
class Background:
    """The pool, tuning, clock and metrics of one replica's loop."""

    pool: asyncpg.Pool
    tuning: Tuning
    clock: Clock
    metrics: SchedulerMetrics

    def lease(self) -> tuple[datetime, datetime]:
        """Now, and when a lease taken now runs out."""
        now = self.clock()
        return now, now + timedelta(seconds=self.tuning.lease_seconds)
