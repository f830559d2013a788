"""SQL for scheduled job runs: one claim per job and period across replicas."""

from __future__ import annotations

from datetime import datetime

from zerog_db import Executor


async def claim(db: Executor, job: str, period_start: datetime, replica: str) -> bool:
    """Whether this replica won the period (the first insert does; the rest find the row)."""
    won = await db.fetchval(
        "INSERT INTO job_runs (job, period_start, replica) VALUES ($1, $2, $3)"
        " ON CONFLICT (job, period_start) DO NOTHING RETURNING true",
        job,
        period_start,
        replica,
    )
    return bool(won)


async def finish(
    db: Executor, job: str, period_start: datetime, checked: int, flagged: int
) -> None:
    """Record what a run did."""
    await db.execute(
        "UPDATE job_runs SET finished_at = now(), checked = $3, flagged = $4"
        " WHERE job = $1 AND period_start = $2",
        job,
        period_start,
        checked,
        flagged,
    )
