"""What the settlement fault tests ask of a chat and check after: completions through a running
inference, and every answer committed at quota and recorded at the broker exactly once."""

from __future__ import annotations

import uuid

import asyncpg
import grpc.aio

from tests.support import auth_metadata
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc

# Every completion must be answered within this many seconds, whatever is down behind it.
ANSWER_BUDGET_SECONDS = 10.0
# Inference's settler retries in tens of milliseconds here: the tests wait for it.
SETTLE_ENV = {
    "SETTLE_RETRY_BASE_SECONDS": "0.05",
    "SETTLE_RETRY_CAP_SECONDS": "0.3",
    "SETTLE_POLL_SECONDS": "0.1",
    "SETTLE_LINGER_SECONDS": "0.05",
    # Providers and credentials are held while the broker is away.
    "PROVIDER_CACHE_SECONDS": "600",
}


async def complete(
    channel: grpc.aio.Channel, subject: str, model: str, provider: str
) -> pb.ChatCompletionResponse:
    """One completion as the app, answered within the budget (or the test fails)."""
    stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
    request = pb.ChatCompletionRequest(
        request_id=uuid.uuid4().hex,
        subject=subject,
        model=model,
        messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="settle this answer")],
        max_tokens=8,
        routing=pb.RoutingOptions(provider=provider),
    )
    answer: pb.ChatCompletionResponse = await stub.ChatCompletion(
        request,
        metadata=auth_metadata("app", "inference"),
        timeout=ANSWER_BUDGET_SECONDS,
    )
    return answer


async def check_settled_once(
    replies: list[pb.ChatCompletionResponse],
    subject: str,
    provider: str,
    *,
    quota: asyncpg.Pool,
    broker: asyncpg.Pool,
    inference: asyncpg.Pool,
) -> None:
    """Each reply charged at quota once with its tokens (its reservation committed, or one spend
    of its budget lease), its fee recorded once, and its outbox row settled without a refusal."""
    records = await quota.fetch(
        "SELECT coalesce(reservation_id::text, metadata->>'lease_id') AS charged_to,"
        " coalesce(metadata->>'spend_id', '') AS spend,"
        " (SELECT sum((i->>'amount')::bigint) FROM jsonb_array_elements(items) i) AS tokens"
        " FROM cost_records WHERE subject = $1",
        subject,
    )
    # One record per answer, none twice: a reservation commits once, a lease spend counts once.
    assert len({(r["charged_to"], r["spend"]) for r in records}) == len(records) == len(replies)
    assert sorted(r["tokens"] for r in records) == sorted(
        r.usage.prompt_tokens + r.usage.completion_tokens for r in replies
    )
    assert {r["charged_to"] for r in records} == {r.cost.reservation_id for r in replies}
    states = await quota.fetch(
        "SELECT reservation_id::text AS id, state FROM reservations WHERE subject = $1", subject
    )
    assert all(r["state"] == "committed" for r in states)
    reserved = await quota.fetchval(
        "SELECT coalesce(sum(reserved), 0) FROM usage WHERE subject = $1 AND unit = $2",
        subject,
        "compute_tokens",
    )
    held = await quota.fetchval(
        "SELECT coalesce(sum(held_tokens), 0) FROM leases WHERE subject = $1", subject
    )
    assert reserved == held  # nothing reserved for an answer that was already charged
    fees = await broker.fetch(
        "SELECT fee_neuron FROM usage WHERE lower(provider) = $1", provider.lower()
    )
    assert sorted(int(f["fee_neuron"]) for f in fees) == sorted(
        int(r.cost.fee_neuron) for r in replies
    )
    refused = await inference.fetchval(
        "SELECT count(*) FROM inference.settlements"
        " WHERE settled_at IS NULL OR quota_error <> '' OR broker_error <> ''"
    )
    assert refused == 0
