"""Retry policy: which failures to retry, how long to back off, and the caller's deadline."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.inference.errors import ProviderError
from zerog_grpc import Monotonic

Sleep = Callable[[float], Awaitable[None]]

# Statuses that say the request itself is wrong (or unpaid): another try gets the same answer.
NEVER_RETRY = frozenset({400, 401, 402, 403, 404, 409, 413, 422})


def is_retryable_status(status: int) -> bool:
    """429 and 5xx may pass on a later try; every other status will not."""
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: `attempts` tries per provider, `base` doubling to `cap`."""

    attempts: int = 3
    base_seconds: float = 1.0
    cap_seconds: float = 30.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 = the first retry).

        Half the exponential step is fixed and half random ("equal jitter"), so concurrent
        callers spread out yet every retry still waits a growing minimum.
        """
        step = min(self.cap_seconds, self.base_seconds * 2 ** (retry - 1))
        return float(step / 2 + self.jitter() * step / 2)

    def should_retry(self, error: ProviderError, attempt: int) -> bool:
        """Retry a retryable failure while attempts remain."""
        return error.retryable and attempt < self.attempts


@dataclass(frozen=True)
class Deadline:
    """The caller's deadline on a monotonic clock; `None` means no deadline."""

    clock: Monotonic
    at: float | None

    @classmethod
    def after(cls, clock: Monotonic, seconds: float | None) -> Deadline:
        return cls(clock, None if seconds is None else clock() + seconds)

    def remaining(self) -> float | None:
        """Seconds left, never negative; None when there is no deadline."""
        return None if self.at is None else max(0.0, self.at - self.clock())

    def allows(self, seconds: float) -> bool:
        """Whether waiting `seconds` still leaves time for an attempt."""
        left = self.remaining()
        return left is None or seconds < left

    def bound(self, timeout: float) -> float:
        """A per-attempt timeout that does not outlive the deadline."""
        left = self.remaining()
        return timeout if left is None else min(timeout, left)
