"""RPCs that report on runs and on the scheduler itself: list and get runs, status."""

from __future__ import annotations

from services.scheduler import convert, pages, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.rpc_jobs import jobs_pb
from services.scheduler.store import jobs, outbox, quota_alerts, runs
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import Problems, Rpcs

# Run ids are bigserial: every one is below this, so the first page starts here.
_FIRST = 2**62


class RunRpcs(Rpcs[Deps]):
    """Runs and the scheduler's status."""

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        problems = Problems()
        validate.name(problems, "job_name", request.job_name, required=False)
        before = pages.cursor(
            problems, request.page_size, request.page_token, lambda p: int(p[0]), _FIRST
        )
        problems.raise_if_any("invalid ListRunsRequest")
        size = request.page_size or pages.DEFAULT_SIZE
        found = await runs.list_runs(self.deps.pool, request.job_name, before, size + 1)
        shown, token = pages.page(found, size, lambda run: (str(run.id),))
        return pb.ListRunsResponse(runs=[convert.run(r) for r in shown], next_page_token=token)

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.GetRunResponse:
        problems = Problems()
        if not request.id.isdigit() or len(request.id) > 18:
            problems["id"] = "must be a run id"
        problems.raise_if_any("invalid GetRunRequest")
        view = await runs.get_run(self.deps.pool, int(request.id))
        return pb.GetRunResponse(run=convert.run(view))

    async def GetSchedulerStatus(
        self, request: pb.GetSchedulerStatusRequest, context: Context
    ) -> pb.GetSchedulerStatusResponse:
        deps = self.deps
        counts = await outbox.counts(deps.pool)
        now = deps.clock()
        return pb.GetSchedulerStatusResponse(
            instance_id=deps.instance,
            running=deps.loop.running,
            now=convert.timestamp(now),
            jobs=await jobs_pb(deps.pool, await jobs.list_jobs(deps.pool), now),
            runs_in_progress=counts["runs"],
            work_items_pending=counts["work"],
            deliveries_pending=counts["pending"],
            deliveries_deferred=counts["deferred"],
            deliveries_failed=counts["failed"],
            concurrency_limit=deps.concurrency_limit,
            batch_size=deps.batch_size,
            quota_alerts_connected=deps.quota_watcher is not None and deps.quota_watcher.connected,
            last_quota_alert_id=await quota_alerts.last_alert_id(deps.pool),
        )
