"""What quota's RPC modules share: the pool, the idempotency primitive, settings and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.quota.alerts import AlertHub
from services.quota.model import RateRule, month_of
from zerog_db import Once
from zerog_grpc import Clock


@dataclass(frozen=True)
class Deps:
    """Everything an RPC needs besides its request; built once by server.start."""

    pool: asyncpg.Pool
    once: Once
    hub: AlertHub
    default_tier: str
    rate_limits: list[RateRule]
    default_ttl: timedelta
    max_ttl: timedelta
    clock: Clock

    def month(self) -> str:
        """The calendar month it is now, "YYYY-MM"."""
        return month_of(self.clock())
