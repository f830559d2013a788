"""Gateway overhead: our chat completion vs the devnet provider called directly vs LiteLLM.

One devnet, one provider, one funded account: the broker's session token is what the direct
calls and LiteLLM send, so every path reaches the same provider with the same credential.
Ours is the whole path a service uses: inference (gRPC) -> quota reserve/commit -> broker
credentials -> provider -> TEE verification; it runs twice, as a default request and with
routing.verifiable_only (the caller asking for a verified answer: synchronous verification).
Added latency = path p50/p99 minus the direct p50/p99 at the same concurrency, measured back
to back in the same rounds. PRODUCT.md bars: added p50 < 2 ms, p99 < 10 ms; >= 150
completions/s per core through inference + quota + broker. LiteLLM (one worker) is the peer.

Only ours checks the provider's TEE signature of each answer (it fetches
GET /v1/proxy/signature/{chat_id} from the provider); the direct and LiteLLM paths never do.
That fetch alone is one more path, timed with httpx against the same provider in the same
rounds, so the latency rows show how much of ours' added time is that one extra round trip.
While ours runs at concurrency 64, the RSS of each service is sampled (bench.rss) for the
memory-under-load rows; idle is read before any load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc.aio
import httpx

from bench import gateway_profile, gateway_rows
from bench.context import Context
from bench.gateway_calls import Call, openai_call, operator_setup, ours_call, signature_call
from bench.gateway_rows import Level
from bench.litellm_peer import litellm_proxy
from bench.loadgen import closed_loop
from bench.model import Row
from bench.node import PeerUnavailable
from bench.report import Section
from bench.rss import Sampler, idle_mib, under_load_row
from bench.stack import running_stack
from zerog.inference.v1 import inference_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub

SERVICES = ["quota", "broker", "inference"]
LOADED = 64  # the concurrency at which memory under load is sampled
UNDER = f"gateway load, concurrency {LOADED}"


async def _measure(
    paths: dict[str, Call],
    levels: list[int],
    total: int,
    rounds: int,
    watch: Mapping[tuple[int, str], contextlib.AbstractContextManager[object]],
) -> dict[int, Level]:
    """Each path at each level; `watch[(level, path)]` is entered around that path's turns."""
    out: dict[int, Level] = {}
    for call in paths.values():  # warm-up: connections, caches, JIT of the peer
        await closed_loop(call, 4, 20)
    for concurrency in levels:
        level = out[concurrency] = Level()
        count = max(total, concurrency * 4)
        for _ in range(rounds):  # paths alternate, so load that comes and goes hits each alike
            for path, call in paths.items():
                with watch.get((concurrency, path)) or contextlib.nullcontext():
                    latencies, wall = await closed_loop(call, concurrency, count // rounds)
                level.latencies.setdefault(path, []).extend(latencies)
                level.rates.setdefault(path, []).append(len(latencies) / wall)
    return out


async def _run_paths(
    ctx: Context,
    addresses: dict[str, str],
    provider: dict[str, Any],
    sampler: contextlib.AbstractContextManager[object],
) -> tuple[dict[int, Level], list[str]]:
    credentials = await operator_setup(addresses, provider["provider"])
    notes: list[str] = []
    levels = [1, 16, LOADED]
    watch = {(LOADED, "ours"): sampler}
    chat_ids: list[str] = []
    total, rounds = ctx.pick(600, 120, 8), ctx.pick(3, 1, 1)
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as client,
        grpc.aio.insecure_channel(addresses["inference"]) as channel,
    ):
        stub: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        paths: dict[str, Call] = {
            "direct": openai_call(
                client,
                credentials.endpoint + "/chat/completions",
                {"Authorization": credentials.authorization},
                credentials.model,
                chat_ids,
            ),
            # after direct: its answers' chat ids are what the signature fetch asks for
            "signature": signature_call(client, credentials.endpoint, credentials.model, chat_ids),
            "ours": ours_call(stub, credentials.model),
            "ours-sync": ours_call(stub, credentials.model, verifiable_only=True),
        }
        try:
            api_key = credentials.authorization.removeprefix("Bearer ")
            with litellm_proxy(ctx.scratch, credentials.endpoint, credentials.model, api_key) as (
                base,
                master,
            ):
                paths["litellm"] = openai_call(
                    client,
                    f"{base}/v1/chat/completions",
                    {"Authorization": f"Bearer {master}"},
                    "bench",
                )
                return await _measure(paths, levels, total, rounds, watch), notes
        except PeerUnavailable as e:
            notes.append(f"LiteLLM not run: {e}")
        return await _measure(paths, levels, total, rounds, watch), notes


def run(ctx: Context) -> list[Row | Section]:
    """Per concurrency (1, 16, 64) and each of ours' two paths: added latency, completions/s."""
    if ctx.tiny:
        return [Row("gateway", "ms", None, notes=["not run at smoke-test size (needs the devnet)"])]
    with running_stack(ctx, SERVICES) as stack:
        if stack.failed or stack.devnet is None:
            why = "; ".join(f"{k}: {v[:200]}" for k, v in stack.failed.items()) or "no devnet"
            return [Row("gateway", "ms", None, notes=[f"stack did not start: {why}"])]
        providers: Any = stack.devnet.services["providers"]
        addresses = {name: s.address for name, s in stack.services.items()}
        pids = {name: s.process.pid for name, s in stack.services.items()}
        settle = ctx.pick(2, 1, 0)
        idle = {name: idle_mib(pid, ctx.pick(5, 3, 1), settle) for name, pid in pids.items()}
        sampler = Sampler(pids)
        provider = providers["providers"][0]
        results, notes = asyncio.run(_run_paths(ctx, addresses, provider, sampler))
        rows: list[Row | Section] = [*gateway_rows.rows(results, notes)]
        load = _memory_load(results)
        rows += [under_load_row(n, UNDER, idle[n], sampler.samples[n], load) for n in pids]
        if any(isinstance(r, Row) and r.verdict.startswith("missed") for r in rows):
            rows += asyncio.run(
                gateway_profile.run(ctx, addresses, pids, providers["providers"][0]["model"])
            )
    return rows


def _memory_load(results: dict[int, Level]) -> str:
    done = len(results[LOADED].latencies["ours"]) if LOADED in results else 0
    return (
        f"gateway benchmark, ours at concurrency {LOADED} ({done} ChatCompletion calls: "
        "inference -> quota Reserve/Commit + broker credentials/VerifyResponse/RecordUsage -> "
        "devnet provider); sampled only during ours' turns"
    )
