"""The RPC surface: validation with every bad field, NOT_FOUND details, auth, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.scheduler.conftest import Scheduler, StartScheduler, scheduler_config
from tests.scheduler.helpers import add_user, push_snapshot, stamp
from tests.support import ManualClock, auth_metadata
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_grpc.settings import ConfigError


async def test_bad_preferences_list_every_field(scheduler: Scheduler) -> None:
    prefs = pb.UserPreferences(
        user_id="",
        time_zone="Mars/Olympus",
        webhook_url="ftp://x",
        email="not-an-email",
        quiet_hours=pb.QuietHours(start_minute=2000, end_minute=10),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.SetUserPreferences(
            pb.SetUserPreferencesRequest(request_id="r", preferences=prefs),
            metadata=scheduler.as_service(),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert detail is not None
    assert {v.field for v in detail.field_violations} == {
        "preferences.user_id",
        "preferences.time_zone",
        "preferences.webhook_url",
        "preferences.email",
        "preferences.quiet_hours.start_minute",
    }


async def test_unknown_job_user_and_bad_cron(scheduler: Scheduler) -> None:
    admin = scheduler.as_service("admin")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.PauseJob(
            pb.PauseJobRequest(request_id="r", name="nope"), metadata=admin
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "JOB_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.GetUserPreferences(
            pb.GetUserPreferencesRequest(user_id="ghost"), metadata=scheduler.as_service()
        )
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "USER_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.UpdateJob(
            pb.UpdateJobRequest(request_id="r", name="daily_digest", cron="61 8 * * *"),
            metadata=admin,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    updated = await scheduler.stub.UpdateJob(
        pb.UpdateJobRequest(request_id="r", name="daily_digest", cron="30 7 * * *"), metadata=admin
    )
    assert updated.job.cron == "30 7 * * *" and updated.job.time_zone == ""


async def test_auth_is_required_and_per_method(scheduler: Scheduler) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.ListJobs(pb.ListJobsRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.TriggerJob(
            pb.TriggerJobRequest(request_id="r", name="daily_digest"),
            metadata=auth_metadata("app", "scheduler"),
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_host_services_are_configurable(start_scheduler: StartScheduler) -> None:
    scheduler = await start_scheduler(SCHEDULER_HOST_SERVICES="portfolio, crm")
    request = pb.ListUserPreferencesRequest()
    for host in ("portfolio", "crm", "admin"):
        await scheduler.stub.ListUserPreferences(request, metadata=scheduler.as_service(host))
    for outsider in ("app", "inference"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await scheduler.stub.ListUserPreferences(
                request, metadata=scheduler.as_service(outsider)
            )
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Job control stays with operators whatever the host is called.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.PauseJob(
            pb.PauseJobRequest(request_id="p", name="daily_digest"),
            metadata=scheduler.as_service("portfolio"),
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(ConfigError):
        scheduler_config("postgresql://x/y", SCHEDULER_HOST_SERVICES=" , ")


async def test_jobs_status_trigger_idempotent_and_snapshot_figures(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    jobs = await scheduler.stub.ListJobs(pb.ListJobsRequest(), metadata=scheduler.as_service())
    assert {(j.name, j.cron, j.time_zone) for j in jobs.jobs} == {
        ("daily_digest", "0 8 * * *", ""),
        ("weekly_summary", "0 7 * * 1", ""),
        ("performance_alerts", "0 9-16 * * 1-5", "America/New_York"),
    }
    await add_user(scheduler, "kiri", "Pacific/Kiritimati", webhook_url="http://127.0.0.1:9/x")
    job = await scheduler.stub.GetJob(
        pb.GetJobRequest(name="daily_digest"), metadata=scheduler.as_service()
    )
    # 08:00 in UTC+14 on 6 March is 18:00 UTC on the 5th; the clock is at 00:00 on the 6th.
    assert job.job.next_fire_time.ToDatetime(UTC) == datetime(2026, 3, 6, 18, 0, tzinfo=UTC)

    figures = await push_snapshot(
        scheduler, "kiri", clock.now, [("A", "1.5", 10_000_000, 8_000_000), ("B", "2", 1, 1)], 7
    )
    assert (figures.value_micro_usd, figures.day_change_micro_usd) == (15_000_009, 3_000_000)
    assert figures.day_change_bps == 2500

    admin = scheduler.as_service("admin")
    first = await scheduler.stub.TriggerJob(
        pb.TriggerJobRequest(request_id="t1", name="daily_digest"), metadata=admin
    )
    again = await scheduler.stub.TriggerJob(
        pb.TriggerJobRequest(request_id="t1", name="daily_digest"), metadata=admin
    )
    assert first.run.id == again.run.id and first.run.users_total == 1
    assert first.run.trigger == pb.RUN_TRIGGER_MANUAL
    status = await scheduler.stub.GetSchedulerStatus(
        pb.GetSchedulerStatusRequest(), metadata=scheduler.as_service()
    )
    assert (status.work_items_pending, status.runs_in_progress) == (1, 1)
    assert (status.concurrency_limit, status.batch_size) == (10, 50)


async def test_snapshot_for_unknown_user_and_news(scheduler: Scheduler, clock: ManualClock) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await push_snapshot(scheduler, "nobody", clock.now, [("A", "1", 1, 1)])
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    stored = await scheduler.stub.PushNewsItems(
        pb.PushNewsItemsRequest(
            request_id="n",
            items=[
                pb.NewsItem(
                    id="n1", symbols=["A"], headline="A soars", published_at=stamp(clock.now)
                )
            ],
        ),
        metadata=scheduler.as_service(),
    )
    assert stored.stored == 1
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scheduler.stub.PushNewsItems(
            pb.PushNewsItemsRequest(request_id="n", items=[pb.NewsItem(id="n2")]),
            metadata=scheduler.as_service(),
        )
    detail = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert detail is not None
    assert {v.field for v in detail.field_violations} == {
        "items[0].symbols",
        "items[0].headline",
        "items[0].published_at",
    }
