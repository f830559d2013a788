"""Decides which runs are due: the latest fire time of each job, per time zone, caught up once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from services.scheduler.background import Background
from services.scheduler.model import Job, Trigger
from services.scheduler.schedule import latest_fire, local_key, utc_key
from services.scheduler.store import jobs, runs, users
from services.scheduler.store.runs import NewRun, RunView

log = logging.getLogger(__name__)

# A run created this long after its fire time counts as a catch-up (the scheduler was down).
ON_TIME = timedelta(minutes=5)


def due_runs(job: Job, zones: Mapping[str, datetime], now: datetime) -> list[NewRun]:
    """The runs a job needs now: only the latest fire time per zone, within the misfire grace.

    Per-user jobs group zones by the UTC instant they fire at, one run per instant; older
    missed periods are never run (no stampede after downtime). `zones` maps each user zone to
    when its first user joined: a user belongs to a period only if they existed at their own
    local fire time, so a zone's fire time before its first user makes no (empty) run.
    """
    fires: dict[datetime, list[tuple[str, str]]] = defaultdict(list)
    for tz in [job.time_zone] if job.time_zone else zones:
        fire = latest_fire(job.cron, tz, now)
        if not job.time_zone and fire < zones[tz]:
            continue
        fires[fire.astimezone(now.tzinfo)].append((tz, local_key(fire, tz)))
    due = []
    for fire, keyed in sorted(fires.items()):
        if fire < job.not_before or now - fire > job.misfire_grace:
            continue
        trigger = Trigger.SCHEDULE if now - fire <= ON_TIME else Trigger.CATCH_UP
        due.append(
            NewRun(
                job.name,
                job.kind,
                utc_key(fire),
                fire,
                trigger,
                None if job.time_zone else keyed,
                keyed[0][1],
                created_before=fire,
            )
        )
    return due


class Planner:
    """Creates due runs; the unique (job, period) row makes one replica win each period."""

    def __init__(self, parts: Background, instance: str) -> None:
        self._parts = parts
        self._instance = instance

    async def plan(self) -> list[int]:
        """Create every due run that no replica created yet; return the new run ids."""
        now = self._parts.clock()
        created = []
        for job in await jobs.list_jobs(self._parts.pool):
            if job.paused:
                continue
            zones = (
                {}
                if job.time_zone
                else await users.zone_first_joined(self._parts.pool, job.kind, now)
            )
            for new in due_runs(job, zones, now):
                run_id = await self._create(new, now)
                if run_id is not None:
                    created.append(run_id)
        return created

    async def trigger(self, job_name: str, request_id: str) -> RunView:
        """A manual run for every user with the notification on; a retry returns the same run."""
        now = self._parts.clock()
        job = await jobs.get_job(self._parts.pool, job_name)
        period = f"manual:{request_id}"
        new = NewRun(job.name, job.kind, period, now, Trigger.MANUAL, None, period, now)
        run_id = await self._create(new, now)
        if run_id is not None:
            return await runs.get_run(self._parts.pool, run_id)
        found = await runs.find_run(self._parts.pool, job.name, period)
        assert found is not None
        return found

    async def _create(self, new: NewRun, now: datetime) -> int | None:
        async with self._parts.pool.acquire() as conn:
            run_id = await runs.create_run(
                conn,
                new,
                now,
                self._parts.tuning.batch_size,
                self._parts.tuning.concurrency_limit,
                self._instance,
            )
        if run_id is not None:
            self._parts.metrics.jobs_executed.labels(new.job).inc()
            log.info(
                "run created",
                extra={"job": new.job, "period": new.period, "trigger": new.trigger.value},
            )
        return run_id
