"""Quota's on-call gauges: how close subjects are to their limits, refreshed by the sweeper.

One query per sweep over every subject's usage, rather than a series per subject: the number of
subjects is unbounded, and on-call needs "someone is near a limit", with GetQuota for who.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from services.quota.model import Unit, month_of
from services.quota.store.limits import usage_near_limits
from zerog_db import Executor
from zerog_grpc import Clock

# The share of a limit at which a subject counts as near it (the seeds' "quota over 80 %").
NEAR_PERCENT = 80


class UsageGauges:
    """zerog_quota_usage_percent_max and zerog_quota_subjects_near_limit, per unit."""

    def __init__(self, registry: CollectorRegistry, default_tier: str) -> None:
        self._default_tier = default_tier
        self.top = Gauge(
            "zerog_quota_usage_percent_max",
            "The highest share of a monthly (storage: all-time) limit any subject has used, %",
            ["unit"],
            registry=registry,
        )
        self.near = Gauge(
            "zerog_quota_subjects_near_limit",
            f"Subjects that used at least {NEAR_PERCENT} % of a limit",
            ["unit"],
            registry=registry,
        )

    async def refresh(self, db: Executor, clock: Clock) -> None:
        found = await usage_near_limits(db, self._default_tier, month_of(clock()), NEAR_PERCENT)
        for unit in Unit:
            top, near = found.get(unit, (0, 0))
            self.top.labels(unit.value).set(top)
            self.near.labels(unit.value).set(near)
