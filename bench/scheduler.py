"""Scheduler users/s for a 10,000-user daily digest (extension point, not measured yet).

What the measurement needs (PRODUCT.md section 9: the digest completes within the
concurrency limits, no user twice):
1. bench.stack.running_stack(ctx, ["quota", "broker", "inference", "scheduler"]), with the
   ledger funded and the provider acknowledged as bench.gateway._credentials does.
2. 10,000 users through SetUserPreferences (batched with asyncio.gather, say 200 at a time)
   and a snapshot per user through PushPortfolioSnapshot.
3. TriggerJob on the daily digest job, then poll GetRun until it finishes; users/s =
   10,000 / (finish - trigger). Sample GetSchedulerStatus for in-flight work to check the
   concurrency limit, and ListDeliveries to check every user got exactly one delivery.
No peer: nothing comparable schedules per-user LLM digests.
"""

from __future__ import annotations

from bench.context import Context
from bench.model import Row
from bench.report import Section


def run(ctx: Context) -> list[Row | Section]:
    """A row saying what is not measured yet, so the table shows the gap."""
    return [
        Row(
            "scheduler: 10,000-user digest",
            "users/s",
            None,
            notes=["not measured yet: see bench/scheduler.py for the plan; no peer"],
        )
    ]
