"""Gateway overhead: our chat completion vs the devnet provider called directly vs LiteLLM.

One devnet, one provider, one funded account: the broker's session token is what the direct
calls and LiteLLM send, so every path reaches the same provider with the same credential.
Ours is the whole path a service uses: inference (gRPC, holding the subject's budget lease and
the provider's credentials) -> provider; the TEE check and settlement (quota's lease spends,
the broker's usage records) follow the answer, off its path. It runs twice: as a default
request, and with routing.verifiable_only (the caller asking for a verified answer: the TEE
check before the answer). Added latency = path p50/p99 minus the direct p50/p99 at the same
concurrency, measured back to back in the same rounds. PRODUCT.md bars: added p50 < 2 ms,
p99 < 10 ms; >= 150 completions/s per core. LiteLLM (one worker) is the peer.

Only ours checks the provider's TEE signature of each answer (it fetches
GET /v1/proxy/signature/{chat_id} from the provider); the direct and LiteLLM paths never do.
That fetch alone is one more path, timed with httpx against the same provider in the same
rounds. After the run, inference's outbox and answer records give each answer's settlement
lag and TEE-check lag (answer to done). While ours runs at concurrency 64, the RSS of each
service is sampled (bench.rss) for the memory-under-load rows; idle is read before any load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import asyncpg
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
                began = time.time()
                with watch.get((concurrency, path)) or contextlib.nullcontext():
                    latencies, wall = await closed_loop(call, concurrency, count // rounds)
                if path == "ours":
                    level.windows.append((began, time.time()))
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
        asyncio.run(_after_the_answers(stack.dsn, results))
        rows: list[Row | Section] = [*gateway_rows.rows(results, notes)]
        load = _memory_load(results)
        rows += [under_load_row(n, UNDER, idle[n], sampler.samples[n], load) for n in pids]
        if any(isinstance(r, Row) and r.verdict.startswith("missed") for r in rows):
            rows += asyncio.run(
                gateway_profile.run(ctx, addresses, pids, providers["providers"][0]["model"])
            )
    return rows


async def _after_the_answers(dsn: str, results: dict[int, Level]) -> None:
    """Each level's settlement and TEE-check lags of the default path (answer to done), read
    from inference's outbox and answer records once everything is settled and checked."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = await connection.fetchval(
                "SELECT (SELECT count(*) FROM inference.settlements WHERE settled_at IS NULL)"
                " + (SELECT count(*) FROM inference.answer_sources"
                " WHERE verification = 'pending')"
            )
            if not left:
                break
            await asyncio.sleep(0.2)
        settled = await connection.fetch(
            "SELECT extract(epoch FROM answered_at)::float8 AS at,"
            " extract(epoch FROM settled_at - answered_at)::float8 AS lag"
            " FROM inference.settlements WHERE settled_at IS NOT NULL"
        )
        checked = await connection.fetch(
            "SELECT extract(epoch FROM created_at)::float8 AS at,"
            " extract(epoch FROM checked_at - created_at)::float8 AS lag"
            " FROM inference.answer_sources WHERE checked_at IS NOT NULL"
            " AND verification IN ('verified', 'failed')"
        )
    finally:
        await connection.close()
    for level in results.values():

        def within(at: float, windows: list[tuple[float, float]] = level.windows) -> bool:
            return any(start <= at <= end for start, end in windows)

        level.settle_lags = [r["lag"] for r in settled if within(r["at"])]
        level.check_lags = [r["lag"] for r in checked if within(r["at"])]


def _memory_load(results: dict[int, Level]) -> str:
    done = len(results[LOADED].latencies["ours"]) if LOADED in results else 0
    return (
        f"gateway benchmark, ours at concurrency {LOADED} ({done} ChatCompletion calls: "
        "inference (budget lease and credentials held) -> devnet provider, then the TEE check "
        "and settlement batches to quota and the broker); sampled only during ours' turns"
    )
