"""Inference SIGKILLed with answers unsettled: after the restart each settles exactly once
(issue 16, acceptance 3).

A real `python -m services.inference` on the stack's database, reaching quota and the broker
through gRPC proxies. While it answers (from its budget lease), quota counts every reported spend
but the answers are lost (inference cannot know) and the broker is down, so nothing is marked
settled. The process is killed; a new one settles what the outbox holds: quota replays the
spends, the broker records each usage once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import grpc.aio

from devnet.provider import ProviderProcess
from tests.faults.grpc_proxy import ALL, GrpcProxy
from tests.faults.settlement_checks import SETTLE_ENV, check_settled_once, complete
from tests.processes import ServiceProcess, start_service_process
from tests.settlement import settled
from tests.stack import Stack
from zerog_db import create_pool

ANSWERS = 8


async def test_killed_with_answers_unsettled_settles_each_once_after_restart(
    stack: Stack,
    processes: list[ServiceProcess],
    start_provider: Callable[..., ProviderProcess],
) -> None:
    model = f"killed-{uuid.uuid4().hex[:8]}"
    provider = start_provider(model=model)
    await stack.start("quota", "broker", providers=[provider])
    quota, broker = GrpcProxy(stack.address("quota")), GrpcProxy(stack.address("broker"))
    await quota.start()
    await broker.start()
    pool = await create_pool(stack.database_url, search_path="inference", max_size=2)
    try:
        env = {
            **stack._inference_env(),
            **SETTLE_ENV,
            "QUOTA_ADDRESS": quota.address,
            "BROKER_ADDRESS": broker.address,
            "LOG_LEVEL": "WARNING",
        }

        async def inference() -> ServiceProcess:
            process = await start_service_process("inference", env)
            processes.append(process)
            await process.wait_serving()
            return process

        subject = f"user:{model}"
        first = await inference()
        async with grpc.aio.insecure_channel(first.address) as channel:
            # One answer settles normally (and warms the provider and credential caches).
            replies = [await complete(channel, subject, model, provider.provider)]
            await settled(pool)
            quota.faults["ReportLeaseSpends"] = "lose_answer"
            broker.faults[ALL] = "down"
            replies += await asyncio.gather(
                *(complete(channel, subject, model, provider.provider) for _ in range(ANSWERS))
            )
        await _quota_charged(stack.pools["quota"], subject, ANSWERS + 1)
        first.kill()
        assert await first.wait() != 0
        left = await pool.fetchval(
            "SELECT count(*) FROM inference.settlements"
            " WHERE committed_at IS NULL AND recorded_at IS NULL"
        )
        assert left == ANSWERS, "the kill must leave every answer unsettled"

        quota.faults.clear()
        broker.faults.clear()
        await inference()
        await settled(pool, within=60)
        await check_settled_once(
            replies,
            subject,
            provider.provider,
            quota=stack.pools["quota"],
            broker=stack.pools["broker"],
            inference=pool,
        )
    finally:
        await pool.close()
        await quota.stop()
        await broker.stop()


async def _quota_charged(quota: asyncpg.Pool, subject: str, count: int) -> None:
    """Wait (30 s at most) until quota has charged `count` of the subject's answers (spends of
    the replica's budget lease, or commits of reservations)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    sql = "SELECT count(*) FROM cost_records WHERE subject = $1"
    while await quota.fetchval(sql, subject) < count:
        assert loop.time() < deadline, "quota never acted on the lost acknowledgements"
        await asyncio.sleep(0.05)
