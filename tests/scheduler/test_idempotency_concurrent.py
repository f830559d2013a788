"""Twenty concurrent TriggerJob calls with one request_id: the job runs once (one run, one
notification, one webhook); every call gets the first answer or ABORTED REQUEST_IN_PROGRESS
with a RetryInfo, and retrying those gets the first answer too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from tests.scheduler.conftest import Scheduler
from tests.scheduler.helpers import add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import unpack_detail


def _retry_after(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo delay of an ABORTED REQUEST_IN_PROGRESS, None for any other error."""
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    retry = unpack_detail(error, error_details_pb2.RetryInfo)
    if error.code() != grpc.StatusCode.ABORTED or info is None or retry is None:
        return None
    if info.reason != "REQUEST_IN_PROGRESS":
        return None
    return retry.retry_delay.ToTimedelta().total_seconds()


async def test_twenty_concurrent_triggers_with_one_request_id_run_the_job_once(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    await add_user(scheduler, "once", "UTC", webhook_url=f"{receiver.url}/once")
    await push_snapshot(scheduler, "once", clock.now, [("ACME", "2", 11_000_000, 10_000_000)])
    request = pb.TriggerJobRequest(request_id="same-trigger", name="daily_digest")
    admin = scheduler.as_service("admin")

    async def trigger() -> pb.TriggerJobResponse:
        return await scheduler.stub.TriggerJob(request, metadata=admin)

    outcomes = await asyncio.gather(*(trigger() for _ in range(20)), return_exceptions=True)

    answers = [o for o in outcomes if isinstance(o, pb.TriggerJobResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(answers) + len(refused) == 20, outcomes
    first = answers[0]
    assert first.run.trigger == pb.RUN_TRIGGER_MANUAL and first.run.users_total == 1
    assert all(a == first for a in answers)
    for error in refused:
        delay = _retry_after(error)
        assert delay is not None and delay > 0, error
        await asyncio.sleep(delay)
        assert await trigger() == first

    runs = await scheduler.pool.fetch("SELECT id, period FROM runs")
    assert [(str(r["id"]), r["period"]) for r in runs] == [(first.run.id, "manual:same-trigger")]
    clock.now = datetime(2026, 3, 6, 0, 5, tzinfo=UTC)
    await scheduler.tick()
    await scheduler.tick()
    assert await scheduler.pool.fetchval("SELECT count(*) FROM notifications") == 1
    assert await scheduler.pool.fetchval("SELECT count(*) FROM deliveries") == 1
    assert [r.path for r in receiver.accepted()] == ["/once"]
    # A retry long after still answers the first run, and starts nothing.
    assert await trigger() == first
    assert await scheduler.pool.fetchval("SELECT count(*) FROM runs") == 1
