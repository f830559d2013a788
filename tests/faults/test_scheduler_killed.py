"""The scheduler process killed (SIGKILL) in the middle of a digest run, then started again: the
run finishes, every user gets exactly one digest, and every webhook a user receives carries
that digest's one Idempotency-Key (a post cut by the kill may be resent, never a second digest).

A real `python -m services.scheduler` on a migrated database and the real clock; inference is a
closed port, so every digest is figures-only (the model is not what is being tested here)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import grpc.aio

from tests.processes import ServiceProcess, start_service_process
from tests.scheduler.helpers import bulk_users
from tests.scheduler.receiver import WebhookReceiver
from tests.support import auth_env, auth_metadata
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog_db.cluster import free_port

if TYPE_CHECKING:
    from zerog.scheduler.v1.scheduler_service_pb2_grpc import SchedulerServiceAsyncStub

USERS = 2_000
LEASE_SECONDS = 5


async def _scheduler(url: str, started: list[ServiceProcess]) -> ServiceProcess:
    env = {
        "DATABASE_URL": url,
        **auth_env("scheduler"),
        "INFERENCE_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens there
        "POLL_INTERVAL_SECONDS": "0.2",
        "SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    process = await start_service_process("scheduler", env)
    started.append(process)
    await process.wait_serving()
    return process


async def _count(db: asyncpg.Pool, sql: str) -> int:
    return int(await db.fetchval(sql))


async def _run(address: str, run_id: str) -> pb.Run:
    async with grpc.aio.insecure_channel(address) as channel:
        stub: SchedulerServiceAsyncStub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        got = await stub.GetRun(
            pb.GetRunRequest(id=run_id), metadata=auth_metadata("admin", "scheduler")
        )
        return got.run


async def test_killed_mid_run_restarts_and_finishes_without_a_second_digest(
    processes: list[ServiceProcess],
    scheduler_db_url: str,
    receiver: WebhookReceiver,
    db: asyncpg.Pool,
) -> None:
    users = await bulk_users(db, USERS, "UTC", receiver.url, datetime.now(UTC))
    first = await _scheduler(scheduler_db_url, processes)
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub: SchedulerServiceAsyncStub = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
        triggered = await stub.TriggerJob(
            pb.TriggerJobRequest(request_id="killed-run", name="daily_digest"),
            metadata=auth_metadata("admin", "scheduler"),
        )
    done = "SELECT count(*) FROM work_items WHERE state = 'done'"
    for _ in range(1200):  # bounded: at most two minutes
        if await _count(db, done) >= USERS // 10:
            break
        await asyncio.sleep(0.1)
    first.kill()
    assert await first.wait() != 0
    killed_at = await _count(db, done)
    assert USERS // 10 <= killed_at < USERS, "the kill must land in the middle of the run"

    second = await _scheduler(scheduler_db_url, processes)
    for _ in range(1800):  # bounded: three minutes (leases of the killed process run out first)
        run = await _run(second.address, triggered.run.id)
        sent = len({r.path for r in receiver.accepted()})
        if run.state != pb.RUN_STATE_RUNNING and sent >= USERS:
            break
        await asyncio.sleep(0.1)
    assert run.state == pb.RUN_STATE_SUCCEEDED
    assert (run.users_total, run.users_done, run.users_failed) == (USERS, USERS, 0)

    one_each = "SELECT count(DISTINCT user_id) = count(*) FROM {}"
    assert await _count(db, "SELECT count(*) FROM notifications") == USERS
    assert await db.fetchval(one_each.format("notifications"))
    assert await db.fetchval(one_each.format("deliveries WHERE channel = 'webhook'"))
    keys: dict[str, set[str]] = defaultdict(set)
    for request in receiver.accepted():
        keys[request.path].add(request.idempotency_key)
    assert set(keys) == {f"/{user}" for user in users}
    assert all(len(k) == 1 and "" not in k for k in keys.values())
    assert len({next(iter(k)) for k in keys.values()}) == USERS
