"""SQL for jobs: seeding from config, reading, schedule changes, pause and resume."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.scheduler.errors import JobNotFound
from services.scheduler.model import Job, JobSpec, Kind
from zerog_db import Executor

_COLUMNS = "name, kind, cron, time_zone, misfire_grace_seconds, paused, not_before"


def _job(row: asyncpg.Record) -> Job:
    return Job(
        row["name"],
        Kind(row["kind"]),
        row["cron"],
        row["time_zone"],
        timedelta(seconds=row["misfire_grace_seconds"]),
        row["paused"],
        row["not_before"],
    )


async def ensure_jobs(db: Executor, specs: tuple[JobSpec, ...], now: datetime) -> None:
    """Create the configured jobs that do not exist yet; stored changes (UpdateJob) win."""
    await db.executemany(
        f"INSERT INTO jobs ({_COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, false, $6, $6)"
        " ON CONFLICT (name) DO NOTHING",
        [
            (s.name, s.kind.value, s.cron, s.time_zone, int(s.misfire_grace.total_seconds()), now)
            for s in specs
        ],
    )


async def list_jobs(db: Executor) -> list[Job]:
    """Every job, by name."""
    return [_job(r) for r in await db.fetch(f"SELECT {_COLUMNS} FROM jobs ORDER BY name")]


async def get_job(db: Executor, name: str) -> Job:
    """One job, or JobNotFound."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE name = $1", name)
    if row is None:
        raise JobNotFound(name)
    return _job(row)


async def update_job(
    db: Executor,
    name: str,
    now: datetime,
    cron: str | None,
    time_zone: str | None,
    misfire_grace: timedelta | None,
) -> Job:
    """Change what is given, keep the rest."""
    grace = int(misfire_grace.total_seconds()) if misfire_grace is not None else None
    row = await db.fetchrow(
        f"""
        UPDATE jobs SET cron = coalesce($2, cron),
            time_zone = CASE WHEN time_zone = '' THEN '' ELSE coalesce($3, time_zone) END,
            misfire_grace_seconds = coalesce($4, misfire_grace_seconds), updated_at = $5
        WHERE name = $1 RETURNING {_COLUMNS}
        """,
        name,
        cron,
        time_zone,
        grace,
        now,
    )
    if row is None:
        raise JobNotFound(name)
    return _job(row)


async def set_paused(db: Executor, name: str, paused: bool, now: datetime) -> Job:
    """Pause or resume; resuming moves not_before to now so paused periods are not caught up."""
    row = await db.fetchrow(
        f"""
        UPDATE jobs SET
            not_before = CASE WHEN paused AND NOT $2 THEN $3 ELSE not_before END,
            paused = $2, updated_at = $3
        WHERE name = $1 RETURNING {_COLUMNS}
        """,
        name,
        paused,
        now,
    )
    if row is None:
        raise JobNotFound(name)
    return _job(row)
