"""Waiting for inference's settler: answers are committed at quota and recorded at the broker
off the request path, so a test that checks them waits (with a deadline) until they are."""

from __future__ import annotations

import asyncio

import asyncpg

from services.inference.store import outbox


async def settled(pool: asyncpg.Pool, within: float = 20.0) -> None:
    """Wait until every answer in the inference schema `pool` reaches is settled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while left := await outbox.unsettled(pool):
        if loop.time() > deadline:
            raise AssertionError(f"{left} answers still unsettled after {within} s")
        await asyncio.sleep(0.02)
