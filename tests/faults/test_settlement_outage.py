"""Quota goes down, then the broker, while completions flow: callers still get their answers
within their time budget, and after recovery every completion is charged and recorded exactly
once (issue 16, acceptance 2).

Inference reaches quota and the broker through gRPC proxies that fail chosen methods. Quota is
first down altogether: the subject is hot, so its calls are served from the budget lease
inference already holds, and only settlement waits. Then quota acts on the spends with its
answers lost (quota counted them, inference cannot know). The broker is then down altogether
(inference holds credentials and the provider list, so answers still flow), and then loses
RecordUsageBatch's answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc.aio
import pytest

from devnet.provider import ProviderProcess
from tests.faults.grpc_proxy import ALL, GrpcProxy
from tests.faults.settlement_checks import SETTLE_ENV, check_settled_once, complete
from tests.settlement import settled
from tests.stack import Stack
from zerog.inference.v1 import inference_service_pb2 as pb

PER_PHASE = 6


@pytest.fixture
async def proxies(stack: Stack) -> AsyncIterator[tuple[GrpcProxy, GrpcProxy]]:
    await stack.start("quota", "broker")
    quota, broker = GrpcProxy(stack.address("quota")), GrpcProxy(stack.address("broker"))
    await quota.start()
    await broker.start()
    yield quota, broker
    await quota.stop()
    await broker.stop()


async def _unsettled(stack: Stack, column: str) -> int:
    return int(
        await stack.pools["inference"].fetchval(
            f"SELECT count(*) FROM inference.settlements WHERE {column} IS NULL"
        )
    )


async def _count(stack: Stack, service: str, sql: str, arg: str) -> int:
    return int(await stack.pools[service].fetchval(sql, arg))


async def _eventually(count: Callable[[], Awaitable[int]], at_least: int, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await count() < at_least:
        assert loop.time() < deadline, f"not within 30 s: {what}"
        await asyncio.sleep(0.05)


async def test_quota_then_broker_down_delays_settlement_and_never_repeats_it(
    stack: Stack,
    proxies: tuple[GrpcProxy, GrpcProxy],
    start_provider: Callable[..., ProviderProcess],
) -> None:
    quota, broker = proxies
    model = f"settle-{uuid.uuid4().hex[:8]}"
    provider = start_provider(model=model)
    await stack.start(
        "inference",
        providers=[provider],
        env={
            "inference": {
                **SETTLE_ENV,
                "QUOTA_ADDRESS": quota.address,
                "BROKER_ADDRESS": broker.address,
            }
        },
    )
    subject = f"user:{model}"
    channel: grpc.aio.Channel = stack.channels["inference"]
    replies: list[pb.ChatCompletionResponse] = []

    async def phase() -> None:
        replies.extend(
            await asyncio.gather(
                *(complete(channel, subject, model, provider.provider) for _ in range(PER_PHASE))
            )
        )

    await phase()  # all up

    quota.faults[ALL] = "down"
    await phase()
    assert await _unsettled(stack, "committed_at") >= PER_PHASE
    quota.faults[ALL] = "lose_answer"
    await phase()
    # Quota counts them all while inference hears nothing back: a lost acknowledgement.
    counted = "SELECT count(*) FROM cost_records WHERE subject = $1"
    await _eventually(
        lambda: _count(stack, "quota", counted, subject), 3 * PER_PHASE, "quota acted"
    )
    assert await _unsettled(stack, "committed_at") >= 2 * PER_PHASE

    quota.faults.clear()
    broker.faults[ALL] = "down"
    await phase()
    assert await _unsettled(stack, "recorded_at") >= PER_PHASE
    broker.faults[ALL] = "lose_answer"
    await phase()
    recorded = "SELECT count(*) FROM usage WHERE lower(provider) = $1"
    await _eventually(
        lambda: _count(stack, "broker", recorded, provider.provider.lower()),
        5 * PER_PHASE,
        "the broker recorded",
    )
    assert await _unsettled(stack, "recorded_at") >= 2 * PER_PHASE

    broker.faults.clear()
    await settled(stack.pools["inference"], within=60)

    assert len(replies) == 5 * PER_PHASE and all(r.choices[0].message.content for r in replies)
    await check_settled_once(
        replies,
        subject,
        provider.provider,
        quota=stack.pools["quota"],
        broker=stack.pools["broker"],
        inference=stack.pools["inference"],
    )
    retried = await stack.pools["inference"].fetchval(
        "SELECT count(*) FROM inference.settlements WHERE attempts > 1"
    )
    assert retried >= 2 * PER_PHASE
