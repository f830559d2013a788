"""Try ranked providers in turn: retries with backoff per provider, breakers, the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiobreaker import CircuitBreakerError

from services.inference.breaker import Breakers
from services.inference.errors import (
    DeadlineReached,
    ProviderError,
    ProviderRejected,
    ProvidersFailed,
)
from services.inference.retry import Deadline, RetryPolicy, Sleep
from services.inference.routing import Provider, ProviderStats
from zerog_grpc import Failure, Monotonic, monotonic

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One try of one provider, as reported in RoutingDecision.attempt_log."""

    provider: str
    attempt: int
    outcome: str
    http_status: int = 0
    latency_ms: int = 0


@dataclass
class Routed(Generic[T]):
    """The value a provider produced and the path that led to it."""

    value: T
    provider: Provider
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Provider calls made (breaker refusals are not calls)."""
        return sum(1 for a in self.attempts if a.outcome != "breaker_open")


class Stopwatch:
    """Times one attempt; the attempt restarts it when the provider call itself begins, so the
    latency average measures providers, not the broker's credential issuance."""

    def __init__(self, clock: Monotonic) -> None:
        self._clock = clock
        self.started = clock()

    def restart(self) -> None:
        self.started = self._clock()

    def elapsed_ms(self) -> int:
        return int((self._clock() - self.started) * 1000)


@dataclass
class Failover:
    """The shared machinery: breakers, stats, policy and the clock and sleep to use."""

    breakers: Breakers
    stats: ProviderStats
    policy: RetryPolicy
    attempt_timeout: float = 60.0
    clock: Monotonic = monotonic
    sleep: Sleep = asyncio.sleep

    async def run(
        self,
        candidates: list[Provider],
        call: Callable[[Provider, float, Stopwatch], Awaitable[T]],
        deadline: Deadline,
        log: list[Attempt],
    ) -> Routed[T]:
        """The first success, trying `candidates` in order; every try is appended to `log`.

        Raises ProviderRejected at the first non-retryable refusal, DeadlineReached when the
        deadline leaves no time, ProvidersFailed when every candidate is used up.
        """
        last = "no candidates"
        # The broker's refusal, while it is the only way candidates failed.
        refusal: Failure | None = None
        only_refused = bool(candidates)
        for provider in candidates:
            breaker = self.breakers.of(provider.address)
            for n in range(1, self.policy.attempts + 1):
                if deadline.remaining() == 0:
                    raise DeadlineReached(sum(1 for a in log if a.outcome != "breaker_open"))
                watch = Stopwatch(self.clock)
                try:
                    value = await breaker.call_async(
                        call, provider, deadline.bound(self.attempt_timeout), watch
                    )
                except CircuitBreakerError as refused:
                    # aiobreaker raises this both when it refuses a call and when the call that
                    # just failed opened it; only the latter was a real call.
                    if not isinstance(refused.__cause__, ProviderError):
                        log.append(Attempt(provider.address, n, "breaker_open"))
                        only_refused = False
                        last = f"{provider.address}: circuit breaker open"
                        break
                    error = refused.__cause__
                except ProviderError as failed:
                    error = failed
                else:
                    elapsed = watch.elapsed_ms()
                    self.stats.observe(provider.address, ok=True, latency_ms=elapsed)
                    log.append(Attempt(provider.address, n, "ok", 200, elapsed))
                    return Routed(value, provider, log)
                elapsed = watch.elapsed_ms()
                log.append(Attempt(provider.address, n, error.outcome, error.status, elapsed))
                if error.outcome.startswith("credentials") and not error.retryable:
                    # The broker cannot pay this provider: another one may still answer.
                    last = f"{provider.address}: {error}"
                    refusal = error.refusal
                    break
                only_refused = False
                if not error.retryable:
                    calls = sum(1 for a in log if a.outcome != "breaker_open")
                    raise ProviderRejected(provider.address, error.status, str(error), calls)
                self.stats.observe(provider.address, ok=False, latency_ms=None)
                last = f"{provider.address}: {error.outcome} ({error})"
                if self.breakers.state(provider.address) != "closed":
                    break
                if not self.policy.should_retry(error, n):
                    break
                delay = self.policy.backoff(n)
                if not deadline.allows(delay):
                    # No time to wait for this provider again: fail over straight away.
                    break
                await self.sleep(delay)
        calls = sum(1 for a in log if a.outcome != "breaker_open")
        if deadline.remaining() == 0:
            raise DeadlineReached(calls)
        raise ProvidersFailed(last, calls, refusal if only_refused else None)
