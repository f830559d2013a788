"""Usage that arrives after its reservation's deadline is billed, never given away.

A slow storage node holds a put's segment writes until quota has swept its reservation (a TTL
of one second, set through storage's config), and a slow provider keeps a stream going past its
own one-second reservation. Both commits are accepted: their cost records are flagged late and
the subjects' usage counts them. A call with a deadline reserves for at least that long.
Inference commits through its outbox, so the test waits for its settler before reading quota."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from devnet.provider import ProviderProcess
from devnet.storage_node import StorageNodeProcess
from tests.settlement import settled
from tests.stack import Stack
from tests.storage.helpers import content, header
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as spb
from zerog.storage.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

# Quota sweeps expired reservations often, so a late commit meets one already given back.
ENV = {
    "quota": {"SWEEP_INTERVAL_SECONDS": "0.1"},
    # The storage test may start the broker first: new providers must show up at once.
    "broker": {"PROVIDER_CACHE_TTL_SECONDS": "0.1"},
    "storage": {"QUOTA_RESERVATION_TTL_SECONDS": "1"},
    # Reservations per call (no budget leases): the test is about a reservation's deadline.
    "inference": {"RESERVATION_TTL_SECONDS": "1", "LEASE_TOKENS": "0"},
}
WAIT_SECONDS = 60.0


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not await check():
        assert loop.time() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        await asyncio.sleep(0.05)


def _quota(stack: Stack) -> QuotaServiceAsyncStub:
    return quota_service_pb2_grpc.QuotaServiceStub(stack.channels["quota"])


async def _records(stack: Stack, subject: str) -> list[qpb.CostRecord]:
    listed = await _quota(stack).ListCostRecords(
        qpb.ListCostRecordsRequest(subject=subject), metadata=stack.md("quota")
    )
    return list(listed.cost_records)


async def _usage(stack: Stack, subject: str) -> dict[int, tuple[int, int]]:
    standing = await _quota(stack).GetQuota(
        qpb.GetQuotaRequest(subject=subject), metadata=stack.md("quota")
    )
    return {u.unit: (u.used, u.reserved) for u in standing.usages}


async def _put_messages(h: spb.PutObjectHeader, data: bytes) -> AsyncIterator[spb.PutObjectRequest]:
    yield spb.PutObjectRequest(header=h)
    yield spb.PutObjectRequest(chunk=data)


async def test_put_slowed_past_its_reservation_is_billed_late(
    stack: Stack, start_storage_node: Callable[..., StorageNodeProcess]
) -> None:
    node = start_storage_node()
    await stack.start("storage", nodes=[node.url], env=ENV)
    stub: StorageServiceAsyncStub = storage_service_pb2_grpc.StorageServiceStub(
        stack.channels["storage"]
    )
    user = f"late-{uuid.uuid4().hex[:8]}"
    subject = f"user:{user}"
    md = stack.md("storage", "inference", user)
    await stub.CreateNamespace(
        spb.CreateNamespaceRequest(request_id=uuid.uuid4().hex, name=f"late-{user}"), metadata=md
    )
    data = content(200_000)
    h = header(f"late-{user}", "slow.bin", data)
    quota_db = stack.pools["quota"]

    node.set_faults(hold_writes=True)
    try:
        put = asyncio.ensure_future(
            stub.PutObject(_put_messages(h, data), metadata=md, timeout=120)
        )

        async def swept() -> bool:
            assert not put.done(), put
            state = await quota_db.fetchval(
                "SELECT state FROM reservations WHERE subject = $1 AND operation = 'storage.put'",
                subject,
            )
            return bool(state == "expired")

        # The reservation expired and was given back while the node held the segments.
        await _eventually(swept, "the put's reservation swept")
    finally:
        node.set_faults(hold_writes=False)
    stored = await put
    assert stored.object.size == len(data)

    records = await _records(stack, subject)
    assert [(r.late, [(i.unit, i.amount) for i in r.items]) for r in records] == [
        (True, [(qpb.UNIT_STORAGE_BYTES, len(data))])
    ]
    assert _usage_of(await _usage(stack, subject), qpb.UNIT_STORAGE_BYTES) == (len(data), 0)
    state = await quota_db.fetchval("SELECT state FROM reservations WHERE subject = $1", subject)
    assert state == "committed"


def _usage_of(usage: dict[int, tuple[int, int]], unit: int) -> tuple[int, int]:
    return usage.get(unit, (0, 0))


async def test_stream_outliving_its_reservation_is_billed_late(
    stack: Stack, start_provider: Callable[..., ProviderProcess]
) -> None:
    model = f"late-{uuid.uuid4().hex[:8]}"
    # The first token comes 1.5 s after the call: past the one-second reservation.
    provider = start_provider(
        model=model, knobs={"first_token_delay_ms": 1500, "token_delay_ms": 20}
    )
    await stack.start("inference", providers=[provider], env=ENV)
    stub: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(
        stack.channels["inference"]
    )
    subject = f"user:{model}"

    def request(max_tokens: int) -> ipb.ChatCompletionRequest:
        return ipb.ChatCompletionRequest(
            request_id=uuid.uuid4().hex,
            subject=subject,
            model=model,
            messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content="tell me a story")],
            max_tokens=max_tokens,
            routing=ipb.RoutingOptions(provider=provider.provider),
        )

    # No deadline: the configured one-second reservation, which the stream outlives.
    stream = stub.StreamChatCompletion(
        ipb.StreamChatCompletionRequest(request=request(16)),
        metadata=stack.md("inference", "app"),
    )
    pieces = [piece async for piece in stream]
    assert pieces and pieces[-1].HasField("cost"), pieces[-1]
    await settled(stack.pools["inference"])

    records = await _records(stack, subject)
    assert [r.late for r in records] == [True]
    billed = sum(i.amount for i in records[0].items)
    assert billed > 0
    tokens = _usage_of(await _usage(stack, subject), qpb.UNIT_COMPUTE_TOKENS)
    assert tokens == (billed, 0)

    # With a deadline, the reservation lasts at least until it.
    await stub.ChatCompletion(
        request(4), metadata=stack.md("inference", "app"), timeout=WAIT_SECONDS * 10
    )
    ttl = await stack.pools["quota"].fetchval(
        "SELECT max(expires_at - created_at) FROM reservations WHERE subject = $1", subject
    )
    assert ttl.total_seconds() >= WAIT_SECONDS * 10 - 5
    await settled(stack.pools["inference"])
    records = await _records(stack, subject)
    assert [r.late for r in records] == [False, True]
