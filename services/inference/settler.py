"""The settler: sends the outbox's quota commits (or lease spends) and broker usage records in
batches, off the request path, retrying with backoff until each is acknowledged.

Every inference replica runs one. A round locks a batch of due rows (`FOR UPDATE SKIP LOCKED`,
so replicas never wait on or double-send each other's rows), sends CommitBatch and
RecordUsageBatch at once, and marks what was acknowledged in the same transaction. Both ends are
idempotent (quota by reservation, the broker by usage id), so a round that dies before marking
(a crash, a lost acknowledgement) is sent again and replayed, never paid twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import asyncpg
import grpc
import grpc.aio
from prometheus_client import CollectorRegistry, Counter, Histogram

from services.inference.quota_client import QuotaClient
from services.inference.store import outbox
from services.inference.store.outbox import DONE, Outcome, Pending, Settlement, Step
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog_grpc import TokenMinter
from zerog_grpc.tracing import linked_span

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub

log = logging.getLogger("services.inference.settler")
# Refusals of one item that pass on their own: tried again with the row, never given up.
_TRANSIENT = frozenset({"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})
# Settlement fields a usage record carries under the same name.
_SAME_NAMES = ("provider", "input_tokens", "output_tokens", "user", "chat_id")
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class BatchError(Protocol):
    """One item refused (quota's and the broker's BatchError alike)."""

    @property
    def code(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...


# Sends a batch of rows to one target: per row, None when acknowledged, else its refusal.
Send = Callable[[Sequence["Pending"]], Awaitable[Sequence[BatchError | None]]]


@dataclass(frozen=True)
class SettlerSettings:
    """How the settler paces itself."""

    batch: int = 200
    poll_seconds: float = 1.0
    """How often an idle settler looks for rows (another replica's, or retries that fell due);
    its own replica's answers wake it at once."""
    retry_base_seconds: float = 0.5
    retry_cap_seconds: float = 30.0
    linger_seconds: float = 0.5
    """How long a woken settler waits for more answers before its round: one batch call to
    quota and one to the broker then settle many answers, not one each."""

    def backoff(self, attempts: int) -> float:
        """Seconds before the `attempts`+1-th try of a row."""
        return float(min(self.retry_cap_seconds, self.retry_base_seconds * 2 ** min(attempts, 30)))


@dataclass(frozen=True)
class UsageRecorder:
    """Sends usage records to the broker in batches, as the inference service."""

    stub: BrokerServiceAsyncStub
    minter: TokenMinter
    timeout: float

    async def record(self, rows: Sequence[Pending]) -> list[bpb.BatchError | None]:
        answer = await self.stub.RecordUsageBatch(
            bpb.RecordUsageBatchRequest(
                records=[
                    bpb.RecordUsageRequest(
                        request_id=s.usage_id,
                        fee_neuron=str(s.fee_neuron),
                        **{name: getattr(s, name) for name in _SAME_NAMES},
                    )
                    for s in (row.settlement for row in rows)
                ]
            ),
            metadata=self.minter.metadata("broker"),
            timeout=self.timeout,
        )
        return [r.error if r.HasField("error") else None for r in answer.results]


@dataclass
class SettlerMetrics:
    """Settlement lag (answer to settled) and the steps refused for good."""

    registry: CollectorRegistry
    lag: Histogram = field(init=False)
    refused: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.lag = Histogram(
            "zerog_inference_settlement_lag_seconds",
            "Seconds from an answer to its settlement (quota committed and broker recorded)",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "zerog_inference_settlement_refused_total",
            "Settlement steps refused for good (kept in the outbox row), by target and reason",
            ["target", "reason"],
            registry=self.registry,
        )


@dataclass
class Settler:
    """One replica's settler loop over the shared outbox."""

    pool: asyncpg.Pool
    quota: QuotaClient
    broker: UsageRecorder
    metrics: SettlerMetrics
    settings: SettlerSettings = field(default_factory=SettlerSettings)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)

    @classmethod
    def started(
        cls,
        pool: asyncpg.Pool,
        quota: QuotaClient,
        broker: UsageRecorder,
        registry: CollectorRegistry,
        settings: SettlerSettings,
    ) -> Settler:
        """A settler already running its loop."""
        settler = cls(pool, quota, broker, SettlerMetrics(registry), settings)
        settler._task = asyncio.ensure_future(settler._run())
        return settler

    def wake(self) -> None:
        """Settlements were queued: settle them now rather than at the next poll."""
        self._wake.set()

    async def alone(self, settlement: Settlement) -> None:
        """Queue `settlement` in a statement of its own, and settle it soon."""
        await outbox.enqueue(self.pool, settlement)
        self.wake()

    async def stop(self, wait: float = 5.0) -> None:
        """Stop after the round in flight (cut short after `wait` seconds: what it did not mark
        is sent again, and replayed, by the next settler)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), wait)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.settle_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("settlement round failed", extra={"error": type(error).__name__})
                handled = 0
            except Exception:
                log.exception("settlement round failed")
                handled = 0
            if handled or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
                if not self._stopping:
                    await asyncio.sleep(self.settings.linger_seconds)

    async def settle_due(self) -> int:
        """One round over up to a batch of due rows; how many it handled."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await outbox.due(conn, self.settings.batch)
            if not rows:
                return 0
            to_commit = [r for r in rows if not r.committed and not r.settlement.leased]
            to_report = [r for r in rows if not r.committed and r.settlement.leased]
            to_record = [r for r in rows if not r.recorded]
            # Its own trace, linked to each answer's: settling is not part of any one request.
            with linked_span("settle", [r.trace_parent for r in rows], rows=len(rows)):
                commits, spends, records = await asyncio.gather(
                    self._steps("quota", to_commit, self.quota.commit_batch),
                    self._steps("quota", to_report, self.quota.report_spends),
                    self._steps("broker", to_record, self.broker.record),
                )
            commits.update(spends)
            outcomes = []
            for row in rows:
                commit = commits.get(row.settlement_id, DONE)
                record = records.get(row.settlement_id, DONE)
                backoff = self.settings.backoff(row.attempts)
                outcomes.append(Outcome(row.settlement_id, commit, record, backoff))
            lags = await outbox.mark(conn, outcomes)
        for lag in lags:
            self.metrics.lag.observe(lag)
        return len(rows)

    async def _steps(
        self,
        target: str,
        rows: list[Pending],
        send: Send,
    ) -> dict[int, Step]:
        """What became of sending `rows` to `target`, by settlement id."""
        if not rows:
            return {}
        try:
            errors = await send(rows)
        except grpc.aio.AioRpcError as error:
            # The whole batch waits for the next try: nothing is lost, nothing sent twice.
            log.warning(
                "settlement batch failed",
                extra={"target": target, "code": error.code().name, "rows": len(rows)},
            )
            failed = Step(False, error=f"{target}: {error.code().name}")
            return {row.settlement_id: failed for row in rows}
        return {
            row.settlement_id: self._step(target, row, e)
            for row, e in zip(rows, errors, strict=True)
        }

    def _step(self, target: str, row: Pending, error: BatchError | None) -> Step:
        if error is None:
            return DONE
        said = f"{target}: {error.code} {error.reason}: {error.message}"
        if error.code in _TRANSIENT:
            return Step(False, error=said)
        log.error(
            "settlement step refused: %s",
            said,
            extra={"target": target, "usage_id": row.settlement.usage_id},
        )
        self.metrics.refused.labels(target, error.reason or error.code).inc()
        return Step(True, refusal=said)
