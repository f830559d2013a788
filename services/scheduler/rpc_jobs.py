"""RPCs that control jobs and report on runs: list, get, update, pause, resume, trigger, status."""

from __future__ import annotations

from services.scheduler import convert, jobs, outbox, quota_alerts, runs, users, validate
from services.scheduler.errors import BadPageToken, SchedulerError
from services.scheduler.model import Job
from services.scheduler.rpc_base import Context, Deps, fail, invalid
from services.scheduler.schedule import next_fire
from zerog.scheduler.v1 import scheduler_service_pb2 as pb


class JobRpcs:
    """Jobs, runs and the scheduler's status."""

    deps: Deps

    async def _jobs_pb(self, selected: list[Job]) -> list[pb.Job]:
        last = await runs.last_runs(self.deps.pool)
        now = self.deps.clock()
        result = []
        for job in selected:
            zones = (
                [job.time_zone]
                if job.time_zone
                else await users.zones_for(self.deps.pool, job.kind, now)
            )
            fires = [next_fire(job.cron, tz, now) for tz in zones]
            result.append(convert.job(job, min(fires, default=None), last.get(job.name)))
        return result

    async def _job(self, name: str, context: Context) -> pb.Job:
        try:
            job = await jobs.get_job(self.deps.pool, name)
        except SchedulerError as error:
            await fail(context, error)
        return (await self._jobs_pb([job]))[0]

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        return pb.ListJobsResponse(jobs=await self._jobs_pb(await jobs.list_jobs(self.deps.pool)))

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "name", request.name)
        if problems:
            await invalid(context, "GetJobRequest", problems)
        return pb.GetJobResponse(job=await self._job(request.name, context))

    async def UpdateJob(
        self, request: pb.UpdateJobRequest, context: Context
    ) -> pb.UpdateJobResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.name(problems, "name", request.name)
        if request.cron:
            validate.cron(problems, "cron", request.cron)
        if request.time_zone:
            validate.time_zone(problems, "time_zone", request.time_zone)
        grace = request.misfire_grace.ToTimedelta() if request.HasField("misfire_grace") else None
        if grace is not None and grace.total_seconds() < 1:
            problems["misfire_grace"] = "must be at least one second"
        if problems:
            await invalid(context, "UpdateJobRequest", problems)
        try:
            await jobs.update_job(
                self.deps.pool,
                request.name,
                self.deps.clock(),
                request.cron or None,
                request.time_zone or None,
                grace,
            )
        except SchedulerError as error:
            await fail(context, error)
        return pb.UpdateJobResponse(job=await self._job(request.name, context))

    async def _pause(self, request_id: str, name: str, paused: bool, context: Context) -> pb.Job:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request_id)
        validate.name(problems, "name", name)
        if problems:
            await invalid(context, "PauseJobRequest" if paused else "ResumeJobRequest", problems)
        try:
            await jobs.set_paused(self.deps.pool, name, paused, self.deps.clock())
        except SchedulerError as error:
            await fail(context, error)
        return await self._job(name, context)

    async def PauseJob(self, request: pb.PauseJobRequest, context: Context) -> pb.PauseJobResponse:
        return pb.PauseJobResponse(
            job=await self._pause(request.request_id, request.name, True, context)
        )

    async def ResumeJob(
        self, request: pb.ResumeJobRequest, context: Context
    ) -> pb.ResumeJobResponse:
        return pb.ResumeJobResponse(
            job=await self._pause(request.request_id, request.name, False, context)
        )

    async def TriggerJob(
        self, request: pb.TriggerJobRequest, context: Context
    ) -> pb.TriggerJobResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.name(problems, "name", request.name)
        if problems:
            await invalid(context, "TriggerJobRequest", problems)
        try:
            view = await self.deps.loop.planner.trigger(request.name, request.request_id)
        except SchedulerError as error:
            await fail(context, error)
        return pb.TriggerJobResponse(run=convert.run(view))

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "job_name", request.job_name, required=False)
        validate.page_size(problems, request.page_size)
        before = 2**62
        if request.page_token:
            try:
                before = int(validate.decode_token(request.page_token, 1)[0])
            except (BadPageToken, ValueError):
                problems["page_token"] = "not a page token from this service"
        if problems:
            await invalid(context, "ListRunsRequest", problems)
        size = request.page_size or 50
        found = await runs.list_runs(self.deps.pool, request.job_name, before, size + 1)
        token = validate.encode_token(str(found[size - 1].id)) if len(found) > size else ""
        return pb.ListRunsResponse(
            runs=[convert.run(r) for r in found[:size]], next_page_token=token
        )

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.GetRunResponse:
        if not request.id.isdigit() or len(request.id) > 18:
            await invalid(context, "GetRunRequest", {"id": "must be a run id"})
        try:
            view = await runs.get_run(self.deps.pool, int(request.id))
        except SchedulerError as error:
            await fail(context, error)
        return pb.GetRunResponse(run=convert.run(view))

    async def GetSchedulerStatus(
        self, request: pb.GetSchedulerStatusRequest, context: Context
    ) -> pb.GetSchedulerStatusResponse:
        counts = await outbox.counts(self.deps.pool)
        watcher = self.deps.quota_watcher
        return pb.GetSchedulerStatusResponse(
            instance_id=self.deps.instance,
            running=self.deps.loop.running,
            now=convert.timestamp(self.deps.clock()),
            jobs=await self._jobs_pb(await jobs.list_jobs(self.deps.pool)),
            runs_in_progress=counts["runs"],
            work_items_pending=counts["work"],
            deliveries_pending=counts["pending"],
            deliveries_deferred=counts["deferred"],
            deliveries_failed=counts["failed"],
            concurrency_limit=self.deps.concurrency_limit,
            batch_size=self.deps.batch_size,
            quota_alerts_connected=watcher is not None and watcher.connected,
            last_quota_alert_id=await quota_alerts.last_alert_id(self.deps.pool),
        )
