"""The calls the gateway benchmark times: ours over gRPC, OpenAI-style HTTP, the signature fetch.

Also what an operator does before the first completion (operator_setup): shared with the
scheduler benchmark's with-the-model row.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc.aio
import httpx

from bench.procs import BENCH_KEYS
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

PROMPT = "hello there devnet"
MAX_TOKENS = 16
SUBJECT = "user:bench"
A0GI = 10**18

Call = Callable[[int], Awaitable[object]]


async def operator_setup(
    stack_addresses: dict[str, str], provider: str
) -> bpb.GetRequestCredentialsResponse:
    """What an operator does first: fund a ledger, acknowledge the provider, set a budget."""
    admin_broker = BENCH_KEYS.minter("admin").metadata("broker")
    async with grpc.aio.insecure_channel(stack_addresses["broker"]) as channel:
        broker: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(channel)
        await broker.CreateLedger(
            bpb.CreateLedgerRequest(
                request_id="bench-ledger", initial_deposit_neuron=str(30 * A0GI)
            ),
            metadata=admin_broker,
        )
        await broker.AcknowledgeProvider(
            bpb.AcknowledgeProviderRequest(request_id=f"bench-ack-{provider}", provider=provider),
            metadata=admin_broker,
        )
        credentials = await broker.GetRequestCredentials(
            bpb.GetRequestCredentialsRequest(provider=provider), metadata=admin_broker
        )
    async with grpc.aio.insecure_channel(stack_addresses["quota"]) as channel:
        quota: QuotaServiceAsyncStub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        big = qpb.Limits(compute_tokens=10**15, cost_micro_usd=10**15)
        await quota.SetSubjectTier(
            qpb.SetSubjectTierRequest(subject=SUBJECT, tier="custom", custom_limits=big),
            metadata=BENCH_KEYS.minter("admin").metadata("quota"),
        )
    return credentials


def openai_call(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    model: str,
    chat_ids: list[str] | None = None,
) -> Call:
    """A chat completion over HTTP; the answer's id goes to `chat_ids` when given."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }

    async def call(_: int) -> object:
        try:
            response = await client.post(url, json=body, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A kept-alive connection the server closed while it sat idle between turns (a
            # race httpx's pool check can lose): sent again once, as browsers do.
            response = await client.post(url, json=body, headers=headers)
        response.raise_for_status()
        answer = response.json()
        if chat_ids is not None:
            chat_ids.append(answer["id"])
        return answer

    return call


def signature_call(
    client: httpx.AsyncClient, endpoint: str, model: str, chat_ids: list[str]
) -> Call:
    """The broker's VerifyResponse fetch alone: the provider's signature of an earlier chat."""

    async def call(index: int) -> object:
        chat_id = chat_ids[-1 - index % min(len(chat_ids), 1000)]  # recent answers' ids
        response = await client.get(f"{endpoint}/signature/{chat_id}", params={"model": model})
        response.raise_for_status()
        return response.json()

    return call


def ours_call(
    stub: InferenceServiceAsyncStub, model: str, *, verifiable_only: bool = False
) -> Call:
    """ChatCompletion through inference; `verifiable_only` is the request's routing option that
    makes the TEE check part of the answer (a failed check fails the call)."""
    # Minted per call: the minter reuses a token until a minute before it expires, as a
    # real calling service does (a run lasts longer than one token's 5 minutes).
    minter = BENCH_KEYS.minter("scheduler")
    run_id = uuid.uuid4().hex[:8]
    messages = [ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content=PROMPT)]
    # A fresh request_id for every call of every batch: a repeated one is answered from
    # inference's record without reaching the provider (idempotency), which is not the path.
    counter = itertools.count()
    routing = ipb.RoutingOptions(verifiable_only=verifiable_only)

    async def call(_: int) -> object:
        request = ipb.ChatCompletionRequest(
            request_id=f"bench-{run_id}-{next(counter)}",
            subject=SUBJECT,
            model=model,
            messages=messages,
            max_tokens=MAX_TOKENS,
            routing=routing,
        )
        return await stub.ChatCompletion(request, metadata=minter.metadata("inference"))

    return call
