"""Idempotency by request_id: the first call runs, retries get its stored answer.

A call runs shielded from the caller's cancellation, so a hung-up client can never leave
money half-moved; a retry arriving while the first call runs waits for its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from services.broker.errors import RequestIdReused

M = TypeVar("M", bound=Message)
# A statement written together with the stored answer: (SQL of a data-modifying CTE whose
# parameters start at $3, its arguments).
Alongside = tuple[str, tuple[object, ...]]
# A call still 'running' after this long belongs to a replica that died: take it over.
LEASE = timedelta(minutes=5)
_POLL_SECONDS = 0.05


async def run_once(
    pool: asyncpg.Pool,
    request_id: str,
    method: str,
    fingerprint: str,
    response_type: type[M],
    work: Callable[[], Awaitable[M]],
    alongside: Callable[[M], Alongside] | None = None,
) -> tuple[M, bool]:
    """(answer, replayed): run `work` once per request_id, storing its answer.

    `alongside(answer)` names a write that belongs with the answer: it runs in the statement
    that stores it (one round trip, and both or neither)."""
    while True:
        claimed = await pool.fetchval(
            """
            INSERT INTO operations (request_id, method, fingerprint, state, lease_until)
            VALUES ($1, $2, $3, 'running', now() + $4::interval)
            ON CONFLICT (request_id) DO UPDATE SET lease_until = now() + $4::interval
                WHERE operations.state = 'running' AND operations.lease_until < now()
                  AND operations.method = $2 AND operations.fingerprint = $3
            RETURNING request_id
            """,
            request_id,
            method,
            fingerprint,
            LEASE,
        )
        if claimed is not None:
            task = asyncio.ensure_future(_run(pool, request_id, work, alongside))
            return await asyncio.shield(task), False
        row = await pool.fetchrow(
            "SELECT method, fingerprint, state, response FROM operations WHERE request_id = $1",
            request_id,
        )
        if row is None:
            continue
        if row["method"] != method or row["fingerprint"] != fingerprint:
            raise RequestIdReused(f"request_id {request_id!r} was used for another request")
        if row["state"] == "done":
            answer = response_type()
            answer.ParseFromString(row["response"])
            return answer, True
        await asyncio.sleep(_POLL_SECONDS)


async def _run(
    pool: asyncpg.Pool,
    request_id: str,
    work: Callable[[], Awaitable[M]],
    alongside: Callable[[M], Alongside] | None,
) -> M:
    try:
        answer = await work()
    except BaseException:
        # Nothing was achieved (a reverted or refused transaction moves nothing): let a retry
        # run again.
        await pool.execute("DELETE FROM operations WHERE request_id = $1", request_id)
        raise
    done = "UPDATE operations SET state = 'done', response = $2 WHERE request_id = $1"
    if alongside is None:
        await pool.execute(done, request_id, answer.SerializeToString())
        return answer
    sql, args = alongside(answer)
    try:
        await pool.execute(
            f"WITH alongside AS ({sql}) {done}", request_id, answer.SerializeToString(), *args
        )
    except BaseException:
        # Neither write happened: let a retry run now rather than after the lease.
        with contextlib.suppress(Exception):
            await pool.execute("DELETE FROM operations WHERE request_id = $1", request_id)
        raise
    return answer
