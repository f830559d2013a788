"""Checks of answers after they were given: the ones this replica just gave, at once, and on a
sweep those whose check is overdue (their replica died, or the provider could not be asked).
A failed check counts against the provider in routing and its breaker, as a failed call does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import asyncpg
from prometheus_client import CollectorRegistry, Counter

from services.inference.breaker import Breakers
from services.inference.provider_http import Credentials
from services.inference.routing import ProviderStats
from services.inference.store import verifications
from services.inference.store.verifications import Pending
from services.inference.verification import FAILED, CheckUnavailable, Signed, Verdict, check

log = logging.getLogger("services.inference.verifier")
# (provider, seconds it may take) -> its credentials, held by the broker client.
CredentialsOf = Callable[[str, float], Awaitable[Credentials]]


class BadSignature(Exception):
    """A provider's answer failed its TEE check: counted as that provider's failure."""


@dataclass
class Verifier:
    """This replica's checker of answers after they were given."""

    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    credentials: CredentialsOf
    breakers: Breakers
    stats: ProviderStats
    timeout: float = 10.0
    sweep_seconds: float = 5.0
    grace_seconds: float = 30.0
    """How long an answer's own replica has to check it before any replica may."""
    max_attempts: int = 10
    """Sweeps that found the provider unreachable before the check is recorded as failed."""
    batch: int = 64
    linger_seconds: float = 0.2
    """How long a check waits for others to go with it: one UPDATE records them all."""
    registry: CollectorRegistry | None = None
    _queue: asyncio.Queue[Pending] = field(default_factory=asyncio.Queue, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    checked: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.checked = Counter(
            "zerog_inference_verifications",
            "TEE checks of verifiable providers' answers, by outcome (verified, failed) and when "
            "(before_answer, after_answer)",
            ["outcome", "timing"],
            registry=self.registry,
        )

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop checking; what is left stays pending in the table for any replica's sweep."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, scope: str, request_id: str, signed: Signed) -> None:
        """Check an answer just given (already stored as pending) as soon as possible."""
        self._queue.put_nowait(Pending(scope, request_id, signed))

    async def check_now(self, creds: Credentials, signed: Signed, within: float | None) -> Verdict:
        """The check made before the answer is returned; one that cannot be made fails."""
        try:
            verdict = await check(
                self.http, creds, signed, min(within or self.timeout, self.timeout)
            )
        except CheckUnavailable as error:
            verdict = Verdict(FAILED, signed.chat_id, "", f"verification unavailable: {error}")
        await self._count(signed, verdict, "before_answer")
        return verdict

    async def _count(self, signed: Signed, verdict: Verdict, timing: str) -> None:
        self.checked.labels(verdict.status, timing).inc()
        if verdict.status == FAILED:
            self.stats.observe(signed.provider, ok=False, latency_ms=None)
            await self.breakers.fail(signed.provider, BadSignature(verdict.reason))

    async def _run(self) -> None:
        while True:
            try:
                due = await self._next()
                if due:
                    await self._check_all(due)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database or a provider failed: what is left stays pending for a sweep.
                log.exception("verification round failed")
                await asyncio.sleep(self.sweep_seconds)

    async def _next(self) -> list[Pending]:
        """Answers just given, else (after a quiet sweep interval) overdue ones."""
        try:
            first = await asyncio.wait_for(self._queue.get(), self.sweep_seconds)
        except TimeoutError:
            return await verifications.overdue(self.pool, self.batch, self.grace_seconds)
        await asyncio.sleep(self.linger_seconds)
        due = [first]
        while len(due) < self.batch and not self._queue.empty():
            due.append(self._queue.get_nowait())
        return due

    async def _check_all(self, due: list[Pending]) -> None:
        verdicts = await asyncio.gather(*(self._check(p) for p in due))
        await verifications.record(
            self.pool, [(p, v) for p, v in zip(due, verdicts, strict=True) if v is not None]
        )

    async def _check(self, pending: Pending) -> Verdict | None:
        signed = pending.signed
        try:
            creds = await self.credentials(signed.provider, self.timeout)
            verdict = await check(self.http, creds, signed, self.timeout)
        except Exception as error:  # unreachable provider or broker: a sweep tries again
            if pending.attempts < self.max_attempts:
                log.warning("verification postponed", extra={"provider": signed.provider})
                return None
            verdict = Verdict(FAILED, signed.chat_id, "", f"verification unavailable: {error}")
        await self._count(signed, verdict, "after_answer")
        return verdict
