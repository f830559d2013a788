"""One aiobreaker circuit breaker per provider, with a failure-ratio rule and a clock we choose."""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiobreaker import CircuitBreaker, CircuitBreakerListener, CircuitBreakerState
from aiobreaker.storage.memory import CircuitMemoryStorage

from services.inference.errors import ProviderError
from zerog_grpc import Monotonic, monotonic


@dataclass(frozen=True)
class BreakerSettings:
    """When a provider is taken out of rotation, and for how long."""

    fail_max: int = 5
    failure_ratio: float = 0.6
    ratio_min_calls: int = 3
    ratio_window: int = 10
    cool_down_seconds: float = 30.0


class _ClockStorage(CircuitMemoryStorage):  # type: ignore[misc]  # aiobreaker is untyped
    """Memory storage whose open time follows our clock instead of datetime.utcnow().

    aiobreaker decides "cool-down over" by comparing utcnow() with opened_at + timeout. Reporting
    opened_at as utcnow() minus the time elapsed on our clock makes that comparison use our clock,
    so tests can move time without sleeping and production uses a monotonic clock.
    """

    def __init__(self, clock: Monotonic) -> None:
        super().__init__(CircuitBreakerState.CLOSED)
        self._clock = clock
        self._opened_on_clock: float | None = None

    @property
    def opened_at(self) -> datetime | None:
        if self._opened_on_clock is None:
            return None
        elapsed = self._clock() - self._opened_on_clock
        return datetime.utcnow() - timedelta(seconds=elapsed)

    @opened_at.setter
    def opened_at(self, _: datetime) -> None:
        self._opened_on_clock = self._clock()


class _RatioRule(CircuitBreakerListener):  # type: ignore[misc]  # aiobreaker is untyped
    """Opens a closed breaker when recent failures reach a share of recent calls."""

    def __init__(self, settings: BreakerSettings) -> None:
        self._settings = settings
        self._recent: deque[bool] = deque(maxlen=settings.ratio_window)

    def success(self, breaker: CircuitBreaker) -> None:
        self._recent.append(True)

    def failure(self, breaker: CircuitBreaker, exception: Exception) -> None:
        self._recent.append(False)
        calls = len(self._recent)
        failures = calls - sum(self._recent)
        if (
            breaker.current_state == CircuitBreakerState.CLOSED
            and calls >= self._settings.ratio_min_calls
            and failures / calls >= self._settings.failure_ratio
        ):
            breaker.open()

    def state_change(self, breaker: CircuitBreaker, old: Any, new: Any) -> None:
        # A provider back in rotation starts with a clean record.
        if new is not None and new.state == CircuitBreakerState.CLOSED:
            self._recent.clear()


def _not_a_provider_fault(error: Exception) -> bool:
    """A refused request (4xx other than 429) says nothing about the provider's health."""
    return isinstance(error, ProviderError) and not error.retryable


class Breakers:
    """The breakers of every provider seen, created on first use."""

    def __init__(self, settings: BreakerSettings, clock: Monotonic = monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def providers(self) -> list[str]:
        """Every provider with a breaker (copied: metrics read it from another thread)."""
        return list(self._breakers)

    def of(self, provider: str) -> CircuitBreaker:
        """The breaker of `provider` (a lower-case address)."""
        key = provider.lower()
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                fail_max=self.settings.fail_max,
                timeout_duration=timedelta(seconds=self.settings.cool_down_seconds),
                exclude=[_not_a_provider_fault],
                listeners=[_RatioRule(self.settings)],
                state_storage=_ClockStorage(self._clock),
                name=key,
            )
            self._breakers[key] = breaker
        return breaker

    async def fail(self, provider: str, error: Exception) -> None:
        """Count `error` against `provider` as a failed call (found after the call ended, like
        a bad TEE signature)."""

        async def failed() -> None:
            raise error

        with contextlib.suppress(Exception):
            await self.of(provider).call_async(failed)

    def state(self, provider: str) -> str:
        """ "closed", "open" or "half-open" (after the cool-down, before the probe call)."""
        breaker = self.of(provider)
        current = breaker.current_state
        if current == CircuitBreakerState.OPEN:
            opened = breaker._state_storage.opened_at  # no public accessor
            if opened is not None and datetime.utcnow() >= opened + breaker.timeout_duration:
                return "half-open"
            return "open"
        return "half-open" if current == CircuitBreakerState.HALF_OPEN else "closed"
