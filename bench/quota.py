"""Quota: reservations/s with 200 concurrent clients on one budget, and zero overspend.

A real quota process (`python -m services.quota`) on a throwaway PostgreSQL, called over
real gRPC. Each round gives a fresh subject a budget for 75% of what the clients ask for,
then every client reserves in a loop; afterwards the granted total must equal the budget
exactly (nothing over, nothing lost) and quota's own GetQuota must agree.
No peer: LiteLLM and the other gateways have no budgets with reservations in this sense.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from bench.context import Context
from bench.db import database
from bench.model import Measurement, Row
from bench.procs import BENCH_KEYS, service_process
from bench.report import Section
from bench.rss import Sampler, idle_mib, under_load_row
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

EACH = 1_000
NO_PEER = "no peer: LiteLLM has no budgets with reservations in this sense"


class _Round:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.granted = 0
        self.refused = 0


async def _round(
    stub: QuotaServiceAsyncStub, clients: int, calls: int
) -> tuple[_Round, float, int, int]:
    """One round; (results, wall seconds, budget, granted according to GetQuota)."""
    admin = BENCH_KEYS.minter("admin").metadata("quota")
    spender = BENCH_KEYS.minter("inference").metadata("quota")
    subject = f"tenant:bench-{uuid.uuid4().hex[:8]}"
    budget = clients * calls * EACH * 3 // 4
    await stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject=subject, tier="custom", custom_limits=pb.Limits(compute_tokens=budget)
        ),
        metadata=admin,
    )
    result = _Round()

    async def client(c: int) -> None:
        for k in range(calls):
            request = pb.ReserveRequest(
                request_id=f"{subject}-{c}-{k}",
                subject=subject,
                items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=EACH)],
            )
            start = time.perf_counter()
            try:
                await stub.Reserve(request, metadata=spender)
                result.granted += 1
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                result.refused += 1
            result.latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - start
    quota = await stub.GetQuota(pb.GetQuotaRequest(subject=subject), metadata=admin)
    reserved = sum(u.reserved + u.used for u in quota.usages if u.unit == pb.UNIT_COMPUTE_TOKENS)
    return result, wall, budget, reserved


async def _drive(
    address: str, rounds: int, clients: int, calls: int
) -> tuple[list[float], list[float], list[str]]:
    rates: list[float] = []
    latencies: list[float] = []
    checks: list[str] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub: QuotaServiceAsyncStub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        await _round(stub, min(clients, 20), 2)  # warm-up: connections, prepared statements
        for _ in range(rounds):
            result, wall, budget, booked = await _round(stub, clients, calls)
            rates.append((result.granted + result.refused) / wall)
            latencies += result.latencies
            over = result.granted * EACH - budget
            exact = result.granted * EACH == budget == booked
            checks.append(
                f"granted {result.granted}, refused {result.refused}, overspend {max(over, 0)}"
                + ("" if exact else f" (MISMATCH: budget {budget}, quota says {booked})")
            )
    return rates, latencies, checks


def run(ctx: Context) -> list[Row | Section]:
    """Two rows: reservations/s and the Reserve latency, both with the overspend check."""
    rounds, clients, calls = ctx.pick(3, 1, 1), ctx.pick(200, 200, 10), ctx.pick(10, 5, 2)
    with database(ctx, "bench_quota") as dsn:
        env = {"DATABASE_URL": dsn, "SWEEP_INTERVAL_SECONDS": "3600"}
        with service_process("quota", env, ctx.scratch) as quota:
            idle = idle_mib(quota.process.pid, ctx.pick(5, 3, 1), ctx.pick(2, 1, 0))
            with Sampler({"quota": quota.process.pid}) as sampler:
                rates, latencies, checks = asyncio.run(
                    _drive(quota.address, rounds, clients, calls)
                )
    overspend = (
        "zero overspend"
        if all(" overspend 0" in c and "MISMATCH" not in c for c in checks)
        else "OVERSPEND"
    )
    label = "quota (1 process)"
    shape = f"{clients} clients x {calls} Reserve calls, {rounds} rounds; budget 75% of asks"
    notes = [
        shape,
        f"{overspend}: " + "; ".join(checks),
        NO_PEER,
        "client and server share this machine",
    ]
    return [
        Row(
            f"quota: Reserve on one budget, {clients} concurrent clients",
            "reservations/s",
            Measurement.of_rates(label, rates),
            notes=notes,
        ),
        Row(
            f"quota: Reserve latency, {clients} concurrent clients",
            "ms",
            Measurement.of_latencies(label, latencies),
            higher_is_better=False,
            notes=[NO_PEER],
        ),
        under_load_row(
            "quota", f"{clients} Reserve clients", idle, sampler.samples["quota"], shape
        ),
    ]
