"""Where ours' time goes: py-spy over each service while ours runs at concurrency 16."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import grpc.aio

from bench import profile
from bench.context import Context
from bench.gateway_calls import ours_call
from bench.loadgen import closed_loop
from bench.model import Row
from bench.report import Section
from zerog.inference.v1 import inference_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub

WHERE = """What changed: the devnet provider used to spend 10-25 ms of CPU on each answer,
nearly all of it in two web3 eth_calls per request (getAccount, getService: web3's middleware
and formatters, and a new connection with a resolver-thread lookup each time). It now reads
the chain head once per wave of requests over a keep-alive pool and re-reads the two views
(one JSON-RPC batch) only when a block was mined since, so it still sees every revoke, refund
and transfer before the next request. An echo now takes about a millisecond end to end
(the direct rows' notes), so the added latency in these rows is ours, not the provider's.

What still dominates ours: the shape of the path. Every completion is, serially:
inference ChatCompletion (gRPC, JWT check) -> the request_id claim (one INSERT) -> quota
Reserve and broker GetRequestCredentials at once -> HTTP to the provider -> quota Commit,
broker RecordUsage and broker VerifyResponse (which GETs the provider's signature of the
answer) at once -> the claim's answer (one UPDATE). That is five gRPC calls to two other
Python services, each a few ms of Python CPU at both ends against a ~1 ms floor for any
gRPC round trip here, plus three PostgreSQL statements in inference and more in quota and
the broker; the provider hop itself and the signature fetch are now ~1 ms each. With the
provider no longer the bottleneck, the services' CPU is: grpc.aio's C core and its poller
thread, socket writes, interceptors (JWT, metrics, logging) and, in inference, the stub calls
themselves (`UnaryUnaryCall._invoke`); the broker also opens a TCP connection per call
(`_sock_connect`). Under 2 ms needs the plan of issue 16: credentials and budget leases held
in inference, verification in inference, settlement through an outbox off the path, so that a
completion is one gRPC call in and one HTTP call out. Settlement lag is not measured yet:
while settlement is on the request path an answer is settled before it is returned (lag ~0);
the outbox's answered_at -> settled_at will give answer-to-settled p50/p99. py-spy sampled
each service while ours ran at concurrency 16 (for inference also the stacks inside
event-loop callbacks alone, i.e. its own Python work):"""


async def run(
    ctx: Context, addresses: dict[str, str], pids: dict[str, int], model: str
) -> list[Row | Section]:
    if not profile.available():
        return [Section("Profile: gateway", "py-spy is not installed (make install)")]
    seconds = ctx.pick(10, 5, 1)
    outs = {name: ctx.scratch / f"gateway-{name}.profile.txt" for name in pids}
    recorders = [profile.record_pid(pid, seconds, outs[name]) for name, pid in pids.items()]
    async with grpc.aio.insecure_channel(addresses["inference"]) as channel:
        stub: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        call = ours_call(stub, model)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await closed_loop(call, 16, 32)
    for recorder in recorders:
        await asyncio.to_thread(recorder.wait)
    parts = [WHERE]
    for name in pids:
        raw = profile.read_raw(outs[name])
        parts.append(f"### {name}\n\n{profile.summarize(raw)}")
        if name == "inference":
            inside = profile.summarize(raw, top=12, under="Handle._run")
            parts.append(f"### inference, inside event-loop callbacks\n\n{inside}")
    return [Section("Profile: gateway (ours at concurrency 16)", "\n\n".join(parts))]
