"""Scheduler users/s for a 10,000-user daily digest, within the concurrency limit, no user twice.

A real scheduler process (`python -m services.scheduler`) on a throwaway PostgreSQL, driven over
real gRPC as the host app drives it: SetUserPreferences (daily digest on, a webhook, UTC) and one
PushPortfolioSnapshot per user, 200 calls at a time; then TriggerJob on the daily digest and
GetRun until the run is no longer RUNNING. users/s = users_done / (finished_at - created_at),
both stamped by the scheduler. The run reports max_concurrency_observed and concurrency_limit
itself; a webhook sink in this process (aiohttp on a free port) counts POSTs per
Idempotency-Key and per user, so "no user twice" is checked at the receiving end.

Two rows. Figures only: INFERENCE_ADDRESS points at a closed local port, every narrative call
fails fast and the digest goes out with the computed figures, flagged degraded; this measures
the scheduler's own pipeline (claiming, figures, outbox, delivery). With the model (not at
smoke-test size): quota, broker, inference and the devnet with its one provider, the ledger
funded and the provider acknowledged as the gateway row does, so every narrative is a real
completion through inference. One run each (n=1): a run of 10,000 users is its own average.
No peer: nothing comparable schedules per-user LLM digests. A third row: the scheduler's RSS
(bench.rss) while the figures-only digest runs, from TriggerJob to the last webhook, beside its
idle reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc.aio
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from bench.context import Context
from bench.db import database
from bench.gateway import SERVICES as MODEL_STACK
from bench.gateway_calls import operator_setup
from bench.model import Measurement, Row
from bench.procs import BENCH_KEYS, service_process
from bench.report import Section
from bench.rss import Sampler, idle_mib, under_load_row
from bench.stack import running_stack
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog_db.cluster import free_port

if TYPE_CHECKING:
    from zerog.scheduler.v1.scheduler_service_pb2_grpc import SchedulerServiceAsyncStub

JOB = "daily_digest"
AT_A_TIME = 200
LABEL = "scheduler (1 process)"
NO_PEER = "no peer: nothing comparable schedules per-user LLM digests"


@dataclass
class Sink:
    """What the webhook endpoint received: POSTs per Idempotency-Key and per user."""

    expected: int
    by_key: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    degraded: int = 0
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.by_key[request.headers.get("Idempotency-Key", "")] += 1
        self.by_user[str(body.get("user_id", ""))] += 1
        self.degraded += bool(body.get("degraded"))
        if self.posts >= self.expected:
            self.all_in.set()
        return web.Response(status=204)

    @property
    def posts(self) -> int:
        return sum(self.by_key.values())


async def _in_slices(each: Callable[[str], Awaitable[None]], users: list[str], size: int) -> None:
    for start in range(0, len(users), size):
        await asyncio.gather(*(each(u) for u in users[start : start + size]))


def _snapshot(user: str, request_id: str) -> pb.PushPortfolioSnapshotRequest:
    as_of = Timestamp()
    as_of.GetCurrentTime()
    positions = [
        pb.Position(
            symbol="AAPL",
            quantity="12.5",
            price_micro_usd=190_000_000,
            previous_close_micro_usd=187_500_000,
        ),
        pb.Position(
            symbol="MSFT",
            quantity="3",
            price_micro_usd=410_000_000,
            previous_close_micro_usd=415_000_000,
        ),
    ]
    return pb.PushPortfolioSnapshotRequest(
        request_id=request_id,
        snapshot=pb.PortfolioSnapshot(
            user_id=user, as_of=as_of, cash_micro_usd=1_000_000_000, positions=positions
        ),
    )


async def _populate(stub: SchedulerServiceAsyncStub, users: list[str], webhook: str) -> None:
    """Each user through the host app's own calls, AT_A_TIME in flight."""
    host = BENCH_KEYS.minter("app")

    async def one(user: str) -> None:
        prefs = pb.UserPreferences(
            user_id=user,
            time_zone="UTC",
            enabled=[pb.NOTIFICATION_KIND_DAILY_DIGEST],
            webhook_url=webhook,
        )
        await stub.SetUserPreferences(
            pb.SetUserPreferencesRequest(request_id=f"prefs-{user}", preferences=prefs),
            metadata=host.metadata("scheduler"),
        )
        await stub.PushPortfolioSnapshot(
            _snapshot(user, f"snap-{user}"), metadata=host.metadata("scheduler")
        )

    await _in_slices(one, users, AT_A_TIME)


async def _await_run(stub: SchedulerServiceAsyncStub) -> pb.Run:
    """TriggerJob, then GetRun until the run is no longer RUNNING."""
    admin = BENCH_KEYS.minter("admin")
    triggered = await stub.TriggerJob(
        pb.TriggerJobRequest(request_id=f"bench-{uuid.uuid4().hex[:8]}", name=JOB),
        metadata=admin.metadata("scheduler"),
    )
    while True:
        got = await stub.GetRun(
            pb.GetRunRequest(id=triggered.run.id), metadata=admin.metadata("scheduler")
        )
        if got.run.state != pb.RUN_STATE_RUNNING:
            return got.run
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Result:
    """The finished run, the sink's view and the set-up time."""

    run: pb.Run
    sink: Sink
    setup_seconds: float
    delivery_wait_seconds: float


async def _drive(
    address: str,
    users: list[str],
    limit: float,
    during_run: contextlib.AbstractContextManager[object] | None = None,
) -> Result:
    """Set the users up, run the digest and wait for every webhook; `during_run` is entered
    from TriggerJob until the last webhook (e.g. a memory sampler)."""
    sink = Sink(len(users))
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub: SchedulerServiceAsyncStub = scheduler_service_pb2_grpc.SchedulerServiceStub(
                channel
            )
            started = time.monotonic()
            await _populate(stub, users, f"http://127.0.0.1:{port}/hook")
            setup = time.monotonic() - started
            with during_run or contextlib.nullcontext():
                async with asyncio.timeout(limit):
                    run = await _await_run(stub)
                finished = time.monotonic()
                async with asyncio.timeout(limit):
                    await sink.all_in.wait()
                waited = time.monotonic() - finished
            await asyncio.sleep(2.0)  # a repeat would come right behind the last first delivery
            return Result(run, sink, setup, waited)
    finally:
        await runner.cleanup()


def _notes(result: Result, users: int) -> list[str]:
    run, sink = result.run, result.sink
    within = run.max_concurrency_observed <= run.concurrency_limit
    repeats = sum(1 for n in sink.by_user.values() if n > 1)
    missing = users - len(sink.by_user)
    once = "exactly one POST per user" if repeats == 0 and missing == 0 else "NOT one per user"
    state = pb.RunState.Name(run.state)
    return [
        f"{users} users, run {state}: done {run.users_done}, skipped {run.users_skipped}, "
        f"failed {run.users_failed}, retried {run.users_retried}, degraded {run.degraded}",
        f"max concurrency observed {run.max_concurrency_observed} of limit "
        f"{run.concurrency_limit} ({'within' if within else 'OVER'}), batch {run.batch_size}",
        f"webhook sink: {once} ({sink.posts} POSTs, {len(sink.by_key)} distinct "
        f"Idempotency-Keys, {len(sink.by_user)} users, {repeats} users twice, {missing} missing, "
        f"{sink.degraded} flagged degraded)",
        f"set-up through the gRPC API ({AT_A_TIME} at a time) took {result.setup_seconds:.1f} s; "
        f"last webhook {result.delivery_wait_seconds:.1f} s after the run finished",
        NO_PEER,
    ]


def _row(name: str, label: str, result: Result, users: int, how: list[str]) -> Row:
    run_ = result.run
    seconds = (run_.finished_at.ToDatetime() - run_.created_at.ToDatetime()).total_seconds()
    rate = run_.users_done / max(seconds, 1e-6)
    end_to_end = seconds + result.delivery_wait_seconds
    return Row(
        name,
        "users/s",
        Measurement(label, rate, rate, 1),
        notes=[
            f"run took {seconds:.1f} s (created_at to finished_at); "
            f"to the last webhook ~{end_to_end:.1f} s, {users / end_to_end:.0f} users/s",
            *how,
            *_notes(result, users),
        ],
    )


def _figures_only(ctx: Context) -> tuple[Row, Row]:
    """The figures-only run and the scheduler's memory while it ran."""
    count = ctx.pick(10_000, 1_000, 50)
    users = [f"bench-user-{i:05d}" for i in range(count)]
    with database(ctx, "bench_scheduler") as dsn:
        env = {
            "DATABASE_URL": dsn,
            "INFERENCE_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing listens there
            "POLL_INTERVAL_SECONDS": "0.5",
        }
        with service_process("scheduler", env, ctx.scratch) as scheduler:
            pid = scheduler.process.pid
            idle = idle_mib(pid, ctx.pick(5, 3, 1), ctx.pick(2, 1, 0))
            sampler = Sampler({"scheduler": pid})
            limit = ctx.pick(1800, 600, 120)
            result = asyncio.run(_drive(scheduler.address, users, limit, sampler))
    how = [
        "inference unreachable (closed local port): every digest is figures-only, flagged "
        "degraded; the model is not in this number",
        "client, sink, scheduler and PostgreSQL share this machine",
    ]
    load = (
        f"the {count:,}-user daily digest (figures only, as the row above), from TriggerJob "
        "until the last webhook; idle read after SERVING, before the users were set up"
    )
    return (
        _row(f"scheduler: {count:,}-user daily digest", LABEL, result, count, how),
        under_load_row(
            "scheduler", f"a {count:,}-user digest", idle, sampler.samples["scheduler"], load
        ),
    )


async def _fund_and_drive(
    addresses: dict[str, str], provider: str, users: list[str], limit: float
) -> Result:
    await operator_setup(addresses, provider)  # fund the ledger, acknowledge the provider
    return await _drive(addresses["scheduler"], users, limit)


def _with_model(ctx: Context) -> Row:
    count = ctx.pick(10_000, 1_000, 0)
    name = f"scheduler: {count:,}-user daily digest, narratives by the devnet provider"
    users = [f"bench-model-user-{i:05d}" for i in range(count)]
    # INFERENCE_MODEL stays unset: inference routes to any provider, the devnet has one.
    extra = {"scheduler": {"POLL_INTERVAL_SECONDS": "0.5"}}
    with running_stack(ctx, [*MODEL_STACK, "scheduler"], extra) as stack:
        if stack.failed or stack.devnet is None:
            why = "; ".join(f"{k}: {v[:200]}" for k, v in stack.failed.items()) or "no devnet"
            return Row(name, "users/s", None, notes=[f"stack did not start: {why}"])
        provider: Any = stack.devnet.services["providers"]
        addresses = {n: s.address for n, s in stack.services.items()}
        result = asyncio.run(
            _fund_and_drive(addresses, provider["providers"][0]["provider"], users, 3600)
        )
    how = [
        "the whole path: scheduler -> inference -> quota + broker -> devnet provider (one) "
        "for every user's narrative; degraded counts the ones that fell back to figures only",
        "client, sink, services, provider, chain and PostgreSQL share this machine",
    ]
    return _row(name, f"{LABEL} + inference", result, count, how)


def run(ctx: Context) -> list[Row | Section]:
    """Users/s of a daily digest run, with the concurrency and once-per-user checks: figures
    only, then (not at smoke-test size) with the devnet provider writing every narrative; last,
    the scheduler's memory while the figures-only run ran."""
    figures, memory = _figures_only(ctx)
    rows: list[Row | Section] = [figures]
    if not ctx.tiny:
        rows.append(_with_model(ctx))
    return [*rows, memory]
