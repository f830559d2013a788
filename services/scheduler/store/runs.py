"""SQL for runs and their per-user work items: create once per period, claim, finish."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.scheduler.errors import RunNotFound
from services.scheduler.model import Kind, Trigger, WorkItem
from zerog_db import Connection, Executor


@dataclass(frozen=True)
class NewRun:
    """What the planner asks for: one run of a job for one period."""

    job: str
    kind: Kind
    period: str
    scheduled_for: datetime
    trigger: Trigger
    # (time zone, user's period key) pairs; None means every user gets `period_key`.
    zones: Sequence[tuple[str, str]] | None
    period_key: str
    created_before: datetime


@dataclass(frozen=True)
class RunView:
    """A run with counters computed from its work items."""

    id: int
    job: str
    period: str
    scheduled_for: datetime
    trigger: Trigger
    batch_size: int
    concurrency_limit: int
    max_concurrency: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    total: int
    done: int
    skipped: int
    failed: int
    retried: int
    degraded: int


async def create_run(
    conn: Connection, new: NewRun, now: datetime, batch: int, limit: int, instance: str
) -> int | None:
    """Create the run and its work items in one transaction; None if the period already ran."""
    async with conn.transaction():
        run_id: int | None = await conn.fetchval(
            """
            INSERT INTO runs (job, period, scheduled_for, trigger, batch_size, concurrency_limit,
                created_by, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (job, period) DO NOTHING RETURNING id
            """,
            new.job,
            new.period,
            new.scheduled_for,
            new.trigger.value,
            batch,
            limit,
            instance,
            now,
        )
        if run_id is None:
            return None
        if new.zones is None:
            await conn.execute(
                """
                INSERT INTO work_items (run_id, job, user_id, period_key, available_at)
                SELECT $1, $2, user_id, $3, $4 FROM users
                WHERE $5 = ANY(enabled) AND created_at <= $6
                ON CONFLICT (job, user_id, period_key) DO NOTHING
                """,
                run_id,
                new.job,
                new.period_key,
                now,
                new.kind.value,
                new.created_before,
            )
        else:
            await conn.execute(
                """
                INSERT INTO work_items (run_id, job, user_id, period_key, available_at)
                SELECT $1, $2, u.user_id, z.key, $3
                FROM users u JOIN unnest($4::text[], $5::text[]) AS z(tz, key)
                    ON u.time_zone = z.tz
                WHERE $6 = ANY(u.enabled) AND u.created_at <= $7
                ON CONFLICT (job, user_id, period_key) DO NOTHING
                """,
                run_id,
                new.job,
                now,
                [tz for tz, _ in new.zones],
                [key for _, key in new.zones],
                new.kind.value,
                new.created_before,
            )
    return run_id


async def claim(db: Executor, now: datetime, lease_until: datetime, limit: int) -> list[WorkItem]:
    """Lease up to `limit` due items (pending, or running under an expired lease)."""
    rows = await db.fetch(
        """
        UPDATE work_items w SET state = 'running', attempts = w.attempts + 1,
            lease_until = $2, lease_token = gen_random_uuid()
        FROM (
            SELECT id FROM work_items
            WHERE (state = 'pending' AND available_at <= $1)
               OR (state = 'running' AND lease_until <= $1)
            ORDER BY available_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
        ) c, jobs j, runs r
        WHERE w.id = c.id AND j.name = w.job AND r.id = w.run_id
        RETURNING w.id, w.run_id, w.job, j.kind, w.user_id, w.period_key, w.attempts,
            w.lease_token, r.scheduled_for
        """,
        now,
        lease_until,
        limit,
    )
    return [
        WorkItem(
            r["id"],
            r["run_id"],
            r["job"],
            Kind(r["kind"]),
            r["user_id"],
            r["period_key"],
            r["attempts"],
            str(r["lease_token"]),
            r["scheduled_for"],
        )
        for r in rows
    ]


async def finish_runs(
    db: Executor, run_ids: Sequence[int], now: datetime
) -> list[tuple[str, float]]:
    """Mark runs finished once none of their items is pending or running; (job, seconds) each."""
    rows = await db.fetch(
        """
        UPDATE runs r SET finished_at = $2
        WHERE r.id = ANY($1) AND r.finished_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM work_items w WHERE w.run_id = r.id AND w.state IN ('pending', 'running'))
        RETURNING r.job, extract(epoch FROM r.finished_at - r.created_at)::float8 AS seconds
        """,
        list(run_ids),
        now,
    )
    return [(row["job"], row["seconds"]) for row in rows]


async def record_concurrency(db: Executor, run_id: int, observed: int) -> None:
    """Keep the highest concurrency any replica measured for the run."""
    await db.execute(
        "UPDATE runs SET max_concurrency = greatest(max_concurrency, $2) WHERE id = $1",
        run_id,
        observed,
    )


_RUN_VIEW = """
    SELECT r.id, r.job, r.period, r.scheduled_for, r.trigger, r.batch_size, r.concurrency_limit,
        r.max_concurrency, r.created_by, r.created_at, r.finished_at,
        count(w.id) AS total,
        count(w.id) FILTER (WHERE w.state = 'done') AS done,
        count(w.id) FILTER (WHERE w.state = 'skipped') AS skipped,
        count(w.id) FILTER (WHERE w.state = 'failed') AS failed,
        count(w.id) FILTER (WHERE w.attempts > 1) AS retried,
        count(w.id) FILTER (WHERE w.degraded) AS degraded
    FROM runs r LEFT JOIN work_items w ON w.run_id = r.id
"""


def _view(row: asyncpg.Record) -> RunView:
    return RunView(**{**dict(row), "trigger": Trigger(row["trigger"])})


async def get_run(db: Executor, run_id: int) -> RunView:
    """One run, or RunNotFound."""
    row = await db.fetchrow(f"{_RUN_VIEW} WHERE r.id = $1 GROUP BY r.id", run_id)
    if row is None:
        raise RunNotFound(str(run_id))
    return _view(row)


async def find_run(db: Executor, job: str, period: str) -> RunView | None:
    """The run of a job for a period, if any."""
    row = await db.fetchrow(
        f"{_RUN_VIEW} WHERE r.job = $1 AND r.period = $2 GROUP BY r.id", job, period
    )
    return _view(row) if row else None


async def list_runs(db: Executor, job: str, before_id: int, limit: int) -> list[RunView]:
    """Runs newest first, optionally of one job, with ids below `before_id`."""
    rows = await db.fetch(
        f"""{_RUN_VIEW} WHERE ($1 = '' OR r.job = $1) AND r.id < $2
        GROUP BY r.id ORDER BY r.id DESC LIMIT $3""",
        job,
        before_id,
        limit,
    )
    return [_view(r) for r in rows]


async def last_runs(db: Executor) -> dict[str, RunView]:
    """The newest run of each job."""
    rows = await db.fetch(
        f"""{_RUN_VIEW} WHERE r.id IN (SELECT max(id) FROM runs GROUP BY job)
        GROUP BY r.id"""
    )
    return {row["job"]: _view(row) for row in rows}
