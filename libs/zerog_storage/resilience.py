"""Circuit breakers per endpoint (aiobreaker) and exponential backoff with jitter.

A breaker counts only transport failures (no answer, HTTP errors, garbage): a node that
answers with a JSON-RPC error is up. While a breaker is open its calls fail at once with
CircuitOpen, a RpcTransportError, so callers treat it as the node being down (another node,
or UNAVAILABLE) without waiting for a timeout; after the cool-down one trial call decides.
Breaker state is per process: each replica learns about a dead node by itself.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerState

from zerog_storage.errors import RpcTransportError

__all__ = ["BreakerSettings", "Breakers", "CircuitOpen", "backoff"]

T = TypeVar("T")


class CircuitOpen(RpcTransportError):
    """The endpoint's breaker is open: the call was not sent."""


@dataclass(frozen=True)
class BreakerSettings:
    """Consecutive transport failures that open a breaker, and how long it stays open."""

    fail_max: int = 5
    cool_down_seconds: float = 30.0


def _answered(error: Exception) -> bool:
    return not isinstance(error, RpcTransportError)


class Breakers:
    """One breaker per endpoint URL, made on first use."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._breakers: dict[str, CircuitBreaker] = {}

    def of(self, url: str) -> CircuitBreaker:
        """The breaker of `url`."""
        breaker = self._breakers.get(url)
        if breaker is None:
            breaker = CircuitBreaker(
                fail_max=self.settings.fail_max,
                timeout_duration=timedelta(seconds=self.settings.cool_down_seconds),
                exclude=[_answered],
                name=url,
            )
            self._breakers[url] = breaker
        return breaker

    def state(self, url: str) -> str:
        """ "closed", "open" or "half-open"."""
        current = self.of(url).current_state
        if current == CircuitBreakerState.OPEN:
            return "open"
        return "half-open" if current == CircuitBreakerState.HALF_OPEN else "closed"

    async def call(self, url: str, method: str, send: Callable[[], Awaitable[T]]) -> T:
        """`send()` through the breaker of `url`; CircuitOpen while it is open."""
        try:
            result: T = await self.of(url).call_async(send)
        except CircuitBreakerError:
            raise CircuitOpen(method, url, "circuit open after repeated failures") from None
        return result


def backoff(
    initial: float, maximum: float, factor: float = 2.0, rng: Callable[[], float] = random.random
) -> Iterator[float]:
    """Delays between polls: doubling from `initial` up to `maximum`, each drawn from the upper
    half of its step ("equal jitter"), so replicas polling one node do not march in step."""
    step = initial
    while True:
        yield step / 2 + rng() * step / 2
        step = min(step * factor, maximum)
