"""SchedulerService: validate each request, call the store, map domain errors to statuses."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

import asyncpg
import grpc

from services.scheduler import convert, data, jobs, outbox, runs, users, validate
from services.scheduler.errors import (
    BadPageToken,
    JobNotFound,
    RunNotFound,
    SchedulerError,
    UserNotFound,
)
from services.scheduler.figures import day_figures
from services.scheduler.loop import SchedulerLoop
from services.scheduler.model import Job
from services.scheduler.schedule import next_fire
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog_grpc import abort, bad_request, error_info

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SchedulerService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def instance_id() -> str:
    """This replica's name: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _invalid(context: Context, what: str, problems: dict[str, str]) -> NoReturn:
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"invalid {what}", bad_request(problems))


async def _fail(context: Context, error: SchedulerError) -> NoReturn:
    """The one place where domain errors become statuses with typed details."""
    match error:
        case JobNotFound():
            detail = error_info("JOB_NOT_FOUND", job=error.name)
        case RunNotFound():
            detail = error_info("RUN_NOT_FOUND", run_id=error.run_id)
        case UserNotFound():
            detail = error_info("USER_NOT_FOUND", user_id=error.user_id)
        case _:
            await abort(context, grpc.StatusCode.INTERNAL, "internal error")
    await abort(context, grpc.StatusCode.NOT_FOUND, str(error), detail)


class SchedulerService(scheduler_service_pb2_grpc.SchedulerServiceServicer):
    """Jobs, runs, users' preferences, pushed data and delivery records."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        loop: SchedulerLoop,
        clock: Clock,
        default_threshold_bps: int,
        concurrency_limit: int,
        batch_size: int,
        instance: str,
    ) -> None:
        self._pool = pool
        self._loop = loop
        self._clock = clock
        self._threshold = default_threshold_bps
        self._limit = concurrency_limit
        self._batch = batch_size
        self._instance = instance

    async def _jobs_pb(self, selected: list[Job]) -> list[pb.Job]:
        last = await runs.last_runs(self._pool)
        now = self._clock()
        result = []
        for job in selected:
            zones = (
                [job.time_zone]
                if job.time_zone
                else await users.zones_for(self._pool, job.kind, now)
            )
            fires = [next_fire(job.cron, tz, now) for tz in zones]
            result.append(convert.job(job, min(fires, default=None), last.get(job.name)))
        return result

    async def _job(self, name: str, context: Context) -> pb.Job:
        try:
            job = await jobs.get_job(self._pool, name)
        except SchedulerError as error:
            await _fail(context, error)
        return (await self._jobs_pb([job]))[0]

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        return pb.ListJobsResponse(jobs=await self._jobs_pb(await jobs.list_jobs(self._pool)))

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "name", request.name)
        if problems:
            await _invalid(context, "GetJobRequest", problems)
        return pb.GetJobResponse(job=await self._job(request.name, context))

    async def UpdateJob(
        self, request: pb.UpdateJobRequest, context: Context
    ) -> pb.UpdateJobResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request.request_id)
        validate.name(problems, "name", request.name)
        if request.cron:
            validate.cron(problems, "cron", request.cron)
        if request.time_zone:
            validate.time_zone(problems, "time_zone", request.time_zone)
        grace = request.misfire_grace.ToTimedelta() if request.HasField("misfire_grace") else None
        if grace is not None and grace.total_seconds() < 1:
            problems["misfire_grace"] = "must be at least one second"
        if problems:
            await _invalid(context, "UpdateJobRequest", problems)
        try:
            await jobs.update_job(
                self._pool,
                request.name,
                self._clock(),
                request.cron or None,
                request.time_zone or None,
                grace,
            )
        except SchedulerError as error:
            await _fail(context, error)
        return pb.UpdateJobResponse(job=await self._job(request.name, context))

    async def _pause(self, request_id: str, name: str, paused: bool, context: Context) -> pb.Job:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request_id)
        validate.name(problems, "name", name)
        if problems:
            await _invalid(context, "PauseJobRequest" if paused else "ResumeJobRequest", problems)
        try:
            await jobs.set_paused(self._pool, name, paused, self._clock())
        except SchedulerError as error:
            await _fail(context, error)
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
        validate.name(problems, "request_id", request.request_id)
        validate.name(problems, "name", request.name)
        if problems:
            await _invalid(context, "TriggerJobRequest", problems)
        try:
            view = await self._loop.planner.trigger(request.name, request.request_id)
        except SchedulerError as error:
            await _fail(context, error)
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
            await _invalid(context, "ListRunsRequest", problems)
        size = request.page_size or 50
        found = await runs.list_runs(self._pool, request.job_name, before, size + 1)
        token = validate.encode_token(str(found[size - 1].id)) if len(found) > size else ""
        return pb.ListRunsResponse(
            runs=[convert.run(r) for r in found[:size]], next_page_token=token
        )

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.GetRunResponse:
        if not request.id.isdigit() or len(request.id) > 18:
            await _invalid(context, "GetRunRequest", {"id": "must be a run id"})
        try:
            view = await runs.get_run(self._pool, int(request.id))
        except SchedulerError as error:
            await _fail(context, error)
        return pb.GetRunResponse(run=convert.run(view))

    async def GetSchedulerStatus(
        self, request: pb.GetSchedulerStatusRequest, context: Context
    ) -> pb.GetSchedulerStatusResponse:
        counts = await outbox.counts(self._pool)
        return pb.GetSchedulerStatusResponse(
            instance_id=self._instance,
            running=self._loop.running,
            now=convert.timestamp(self._clock()),
            jobs=await self._jobs_pb(await jobs.list_jobs(self._pool)),
            runs_in_progress=counts["runs"],
            work_items_pending=counts["work"],
            deliveries_pending=counts["pending"],
            deliveries_deferred=counts["deferred"],
            deliveries_failed=counts["failed"],
            concurrency_limit=self._limit,
            batch_size=self._batch,
        )

    async def SetUserPreferences(
        self, request: pb.SetUserPreferencesRequest, context: Context
    ) -> pb.SetUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request.request_id)
        validate.preferences(problems, request.preferences)
        if problems:
            await _invalid(context, "SetUserPreferencesRequest", problems)
        user = convert.user_from_pb(request.preferences, self._threshold)
        stored = await users.set_user(self._pool, user, self._clock())
        return pb.SetUserPreferencesResponse(preferences=convert.user_to_pb(stored))

    async def GetUserPreferences(
        self, request: pb.GetUserPreferencesRequest, context: Context
    ) -> pb.GetUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "user_id", request.user_id)
        if problems:
            await _invalid(context, "GetUserPreferencesRequest", problems)
        try:
            user = await users.get_user(self._pool, request.user_id)
        except SchedulerError as error:
            await _fail(context, error)
        return pb.GetUserPreferencesResponse(preferences=convert.user_to_pb(user))

    async def ListUserPreferences(
        self, request: pb.ListUserPreferencesRequest, context: Context
    ) -> pb.ListUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.page_size(problems, request.page_size)
        after = ""
        if request.page_token:
            try:
                after = validate.decode_token(request.page_token, 1)[0]
            except BadPageToken:
                problems["page_token"] = "not a page token from this service"
        if problems:
            await _invalid(context, "ListUserPreferencesRequest", problems)
        size = request.page_size or 50
        found = await users.list_users(self._pool, after, size + 1)
        token = validate.encode_token(found[size - 1].user_id) if len(found) > size else ""
        return pb.ListUserPreferencesResponse(
            preferences=[convert.user_to_pb(u) for u in found[:size]], next_page_token=token
        )

    async def DeleteUserPreferences(
        self, request: pb.DeleteUserPreferencesRequest, context: Context
    ) -> pb.DeleteUserPreferencesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request.request_id)
        validate.name(problems, "user_id", request.user_id)
        if problems:
            await _invalid(context, "DeleteUserPreferencesRequest", problems)
        deleted = await users.delete_user(self._pool, request.user_id)
        return pb.DeleteUserPreferencesResponse(deleted=deleted)

    async def PushPortfolioSnapshot(
        self, request: pb.PushPortfolioSnapshotRequest, context: Context
    ) -> pb.PushPortfolioSnapshotResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request.request_id)
        validate.snapshot(problems, request.snapshot)
        if problems:
            await _invalid(context, "PushPortfolioSnapshotRequest", problems)
        snapshot = convert.snapshot_from_pb(request.snapshot)
        try:
            await users.get_user(self._pool, snapshot.user_id)
            await data.add_snapshot(self._pool, snapshot, request.request_id)
        except asyncpg.ForeignKeyViolationError:
            await _fail(context, UserNotFound(snapshot.user_id))
        except SchedulerError as error:
            await _fail(context, error)
        figures = day_figures(snapshot)
        return pb.PushPortfolioSnapshotResponse(
            value_micro_usd=figures.value_micro_usd,
            day_change_micro_usd=figures.change_micro_usd,
            day_change_bps=figures.change_bps,
        )

    async def PushNewsItems(
        self, request: pb.PushNewsItemsRequest, context: Context
    ) -> pb.PushNewsItemsResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "request_id", request.request_id)
        validate.news(problems, request.items)
        if problems:
            await _invalid(context, "PushNewsItemsRequest", problems)
        stored = await data.add_news(self._pool, [convert.news_from_pb(i) for i in request.items])
        return pb.PushNewsItemsResponse(stored=stored)

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Context
    ) -> pb.ListDeliveriesResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "user_id", request.user_id, required=False)
        validate.name(problems, "job_name", request.job_name, required=False)
        validate.page_size(problems, request.page_size)
        if request.state and request.state not in convert.DELIVERY_STATE_FROM_PB:
            problems["state"] = "unknown delivery state"
        before = None
        if request.page_token:
            try:
                when, last_id = validate.decode_token(request.page_token, 2)
                before = (validate.token_time(when), last_id)
            except BadPageToken:
                problems["page_token"] = "not a page token from this service"
        if problems:
            await _invalid(context, "ListDeliveriesRequest", problems)
        size = request.page_size or 50
        query = outbox.DeliveryQuery(
            request.user_id,
            request.job_name,
            convert.DELIVERY_STATE_FROM_PB.get(request.state, ""),
            before,
            size + 1,
        )
        found = await outbox.list_deliveries(self._pool, query)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = validate.encode_token(last.created_at.isoformat(), last.id)
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery(d) for d in found[:size]], next_page_token=token
        )
