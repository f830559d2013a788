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

WHERE = """The shape of ours now: a completion is one gRPC call into inference, which admits
it against the subject's budget lease and the provider's credentials it holds (no quota or
broker call), claims the request_id (one INSERT), calls the provider over a kept-alive
aiohttp connection, and stores the answer, what it owes and what its TEE check needs in one
statement. The TEE check (the provider's signature, checked against the signer the broker
acknowledged) and settlement (quota lease spends and broker usage records, in batches) follow
the answer. What is left per completion is grpc.aio and asyncpg on one event loop: py-spy
sampled each service while ours ran at concurrency 16 (for inference also the stacks inside
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
