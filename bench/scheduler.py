"""Scheduler users/s for a 10,000-user daily digest (extension point, not measured yet).

What the measurement needs (PRODUCT.md section 9: the digest completes within the
concurrency limits, no user twice):
1. bench.stack.running_stack(ctx, ["quota", "broker", "inference", "scheduler"]) with
   INFERENCE_MODEL = the devnet provider's model for the scheduler (running_stack needs an
   extra-env argument for that), the ledger funded and the provider acknowledged as
   bench.gateway._credentials does (move it to a shared module then).
2. A webhook sink in this process (aiohttp on a free port) counting POSTs per
   Idempotency-Key and per user.
3. 10,000 users through SetUserPreferences (enabled = [DAILY_DIGEST], webhook_url = the
   sink, time zone UTC), 200 calls at a time, and one PushPortfolioSnapshot each.
4. TriggerJob on the daily digest job (name from ListJobs), then poll GetRun until its
   state is no longer RUNNING. users/s = users_done / (finished_at - created_at). The Run
   itself reports max_concurrency_observed and concurrency_limit (the "within limits"
   check) and users_failed / degraded; the sink must have seen exactly one POST per user.
   At the devnet provider's ~20-40 completions/s here, 10,000 narratives take minutes:
   use 1,000 users with --quick.
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
