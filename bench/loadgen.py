"""Closed-loop load: `concurrency` workers send `total` requests; per-request latency in ms."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def closed_loop(
    call: Callable[[int], Awaitable[object]], concurrency: int, total: int
) -> tuple[list[float], float]:
    """(latencies in ms, wall seconds); any failed call fails the whole measurement."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            start = time.perf_counter()
            await call(index)
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start
