"""Replay protection: a timestamp window plus nonces that may be used once per address."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from zerog_signing.errors import FutureTimestamp, ReplayedNonce, StaleTimestamp

__all__ = [
    "DEFAULT_WINDOW",
    "Clock",
    "MemoryNonceStore",
    "NonceStore",
    "ReplayGuard",
    "ms_to_datetime",
    "system_clock_ms",
]

DEFAULT_WINDOW = timedelta(minutes=5)

Clock = Callable[[], datetime | int]
"""A clock returns an aware datetime or Unix epoch milliseconds."""


def system_clock_ms() -> int:
    """Current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    """An aware UTC datetime for Unix milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _to_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("the clock returned a naive datetime; return an aware one")
        return round(value.timestamp() * 1000)
    return value


class NonceStore(Protocol):
    """Remembers which (address, nonce) pairs were used.

    Addresses arrive lower-cased. Times are Unix milliseconds: `signed_at_ms` is the
    intent's own timestamp (what pruning goes by), `seen_at_ms` when the guard accepted it.
    """

    async def record(self, address: str, nonce: str, signed_at_ms: int, seen_at_ms: int) -> bool:
        """Record the pair atomically; True if it is new, False if it was already there."""
        ...

    async def prune(self, signed_before_ms: int) -> int:
        """Forget pairs signed before `signed_before_ms`; return how many were removed."""
        ...

    async def used(self, address: str, nonce: str) -> bool:
        """Whether the pair was recorded."""
        ...


class MemoryNonceStore:
    """A NonceStore in a dict, for tests and single-process tools."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}

    async def record(self, address: str, nonce: str, signed_at_ms: int, seen_at_ms: int) -> bool:
        """Record the pair; True if it is new."""
        key = (address, nonce)
        # No await between the test and the insert: atomic within the event loop.
        if key in self._seen:
            return False
        self._seen[key] = signed_at_ms
        return True

    async def prune(self, signed_before_ms: int) -> int:
        """Forget pairs signed before `signed_before_ms`."""
        old = [key for key, signed_at in self._seen.items() if signed_at < signed_before_ms]
        for key in old:
            del self._seen[key]
        return len(old)

    async def used(self, address: str, nonce: str) -> bool:
        """Whether the pair was recorded."""
        return (address, nonce) in self._seen

    def __len__(self) -> int:
        return len(self._seen)


class ReplayGuard:
    """Refuses intents signed outside `window` of now (either way) and reused nonces.

    A nonce only needs remembering while its timestamp is inside the window: after that the
    timestamp check refuses the intent anyway, so `prune()` can drop it.
    """

    def __init__(
        self,
        store: NonceStore,
        *,
        window: timedelta = DEFAULT_WINDOW,
        clock: Clock = system_clock_ms,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self._store = store
        self._window_ms = int(window.total_seconds() * 1000)
        self._clock = clock

    @property
    def window(self) -> timedelta:
        """How far a timestamp may be from now, in the past or the future."""
        return timedelta(milliseconds=self._window_ms)

    def now_ms(self) -> int:
        """The guard's clock, in Unix milliseconds."""
        return _to_ms(self._clock())

    def check_timestamp(self, timestamp_ms: int, now_ms: int | None = None) -> None:
        """Raise StaleTimestamp or FutureTimestamp when outside the window."""
        now = self.now_ms() if now_ms is None else now_ms
        if timestamp_ms < now - self._window_ms:
            raise StaleTimestamp(
                f"signed at {timestamp_ms} ms, more than {self._window_ms} ms before now ({now})"
            )
        if timestamp_ms > now + self._window_ms:
            raise FutureTimestamp(
                f"signed at {timestamp_ms} ms, more than {self._window_ms} ms after now ({now})"
            )

    async def consume(self, address: str, nonce: str, timestamp_ms: int) -> None:
        """Check the timestamp, then use the nonce once; ReplayedNonce if it was used."""
        now = self.now_ms()
        self.check_timestamp(timestamp_ms, now)
        if not await self._store.record(address.lower(), nonce, timestamp_ms, now):
            raise ReplayedNonce(f"nonce {nonce!r} was already used by {address}")

    async def used(self, address: str, nonce: str) -> bool:
        """Whether `address` has used `nonce` (and it is still remembered)."""
        return await self._store.used(address.lower(), nonce)

    async def prune(self) -> int:
        """Drop nonces whose timestamps have left the window; return how many."""
        return await self._store.prune(self.now_ms() - self._window_ms)
