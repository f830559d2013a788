"""RPCs that control jobs: list, get, update, pause, resume and trigger."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from services.scheduler import convert, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.model import Job
from services.scheduler.schedule import next_fire
from services.scheduler.store import jobs, runs, users
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_db import Executor
from zerog_grpc import Rpcs

Paused = TypeVar("Paused", pb.PauseJobResponse, pb.ResumeJobResponse)


async def jobs_pb(db: Executor, selected: list[Job], now: datetime) -> list[pb.Job]:
    """Jobs with their next fire time (the soonest of their users' zones) and last run."""
    last = await runs.last_runs(db)
    result = []
    for job in selected:
        zones = [job.time_zone] if job.time_zone else await users.zones_for(db, job.kind, now)
        fires = [next_fire(job.cron, tz, now) for tz in zones]
        result.append(convert.job(job, min(fires, default=None), last.get(job.name)))
    return result


class JobRpcs(Rpcs[Deps]):
    """Jobs: read by anyone, controlled by operators."""

    async def _job(self, db: Executor, name: str) -> pb.Job:
        job = await jobs.get_job(db, name)
        return (await jobs_pb(db, [job], self.deps.clock()))[0]

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        found = await jobs.list_jobs(self.deps.pool)
        return pb.ListJobsResponse(jobs=await jobs_pb(self.deps.pool, found, self.deps.clock()))

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        validate.named("name", request.name).raise_if_any("invalid GetJobRequest")
        return pb.GetJobResponse(job=await self._job(self.deps.pool, request.name))

    async def UpdateJob(
        self, request: pb.UpdateJobRequest, context: Context
    ) -> pb.UpdateJobResponse:
        problems = validate.named("name", request.name)
        if request.cron:
            validate.cron(problems, "cron", request.cron)
        if request.time_zone:
            validate.time_zone(problems, "time_zone", request.time_zone)
        grace = request.misfire_grace.ToTimedelta() if request.HasField("misfire_grace") else None
        if grace is not None and grace.total_seconds() < 1:
            problems["misfire_grace"] = "must be at least one second"

        async def update(conn: Executor) -> pb.UpdateJobResponse:
            now = self.deps.clock()
            cron, zone = request.cron or None, request.time_zone or None
            await jobs.update_job(conn, request.name, now, cron, zone, grace)
            return pb.UpdateJobResponse(job=await self._job(conn, request.name))

        answer = pb.UpdateJobResponse
        return await self.deps.transaction(request.request_id, request, problems, answer, update)

    async def PauseJob(self, request: pb.PauseJobRequest, context: Context) -> pb.PauseJobResponse:
        return await self._pause(request, pb.PauseJobResponse, paused=True)

    async def ResumeJob(
        self, request: pb.ResumeJobRequest, context: Context
    ) -> pb.ResumeJobResponse:
        return await self._pause(request, pb.ResumeJobResponse, paused=False)

    async def _pause(
        self, request: pb.PauseJobRequest | pb.ResumeJobRequest, answer: type[Paused], paused: bool
    ) -> Paused:
        async def pause(conn: Executor) -> Paused:
            await jobs.set_paused(conn, request.name, paused, self.deps.clock())
            return answer(job=await self._job(conn, request.name))

        problems = validate.named("name", request.name)
        return await self.deps.transaction(request.request_id, request, problems, answer, pause)

    async def TriggerJob(
        self, request: pb.TriggerJobRequest, context: Context
    ) -> pb.TriggerJobResponse:
        key = self.deps.checked(request.request_id, request, validate.named("name", request.name))

        async def trigger() -> pb.TriggerJobResponse:
            view = await self.deps.loop.planner.trigger(request.name, request.request_id)
            return pb.TriggerJobResponse(run=convert.run(view))

        # A run reaches users, so the claim commits before it starts: a concurrent duplicate is
        # told to retry rather than starting one too. Shielded: a caller hanging up does not
        # leave the run without its stored answer.
        return await self.deps.once.run(key, pb.TriggerJobResponse, trigger, shield=True)
