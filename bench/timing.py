"""Timing loops shared by the benchmarks: ops per second over batches."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


def rates(batches: int, size: int, once: Callable[[int], object]) -> list[float]:
    """Run `once(i)` for i in 0..size-1, `batches` times; ops/s of each batch.

    One more batch runs first, uncounted, so caches are warm (the Node peers do the same).
    """
    out = []
    for b in range(batches + 1):
        start = time.perf_counter()
        for i in range(size):
            once(i)
        if b:
            out.append(size / (time.perf_counter() - start))
    return out


async def async_rates(
    batches: int,
    size: int,
    once: Callable[[int], Awaitable[object]],
    before_batch: Callable[[], None] | None = None,
) -> list[float]:
    """`rates` for a coroutine; `before_batch` resets state (e.g. a nonce store) untimed."""
    out = []
    for b in range(batches + 1):
        if before_batch is not None:
            before_batch()
        start = time.perf_counter()
        for i in range(size):
            await once(i)
        if b:
            out.append(size / (time.perf_counter() - start))
    return out


def best_seconds(repeat: int, fn: Callable[[], object]) -> list[float]:
    """Wall seconds of each of `repeat` calls of fn."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out
