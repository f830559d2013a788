"""Idempotency by (calling service, request_id): the first call runs, retries get its answer.

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
from zerog_grpc import current_caller, request_ids

M = TypeVar("M", bound=Message)
# A statement written together with the stored answer: (SQL of a data-modifying CTE whose
# parameters start at $4, its arguments).
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
    """(answer, replayed): run `work` once per request_id of the calling service, storing its
    answer (another service's request_id of the same spelling is another operation).

    `alongside(answer)` names a write that belongs with the answer: it runs in the statement
    that stores it (one round trip, and both or neither); its parameters start at $4."""
    caller = current_caller().service
    while True:
        claimed = await pool.fetchval(
            """
            INSERT INTO operations (caller, request_id, method, fingerprint, state, lease_until)
            VALUES ($5, $1, $2, $3, 'running', now() + $4::interval)
            ON CONFLICT (caller, request_id) DO UPDATE SET lease_until = now() + $4::interval
                WHERE operations.state = 'running' AND operations.lease_until < now()
                  AND operations.method = $2 AND operations.fingerprint = $3
            RETURNING request_id
            """,
            request_id,
            method,
            fingerprint,
            LEASE,
            caller,
        )
        if claimed is not None:
            task = asyncio.ensure_future(_run(pool, (caller, request_id), work, alongside))
            return await asyncio.shield(task), False
        row = await pool.fetchrow(
            "SELECT method, fingerprint, state, response FROM operations"
            " WHERE caller = $1 AND request_id = $2",
            caller,
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
    key: tuple[str, str],
    work: Callable[[], Awaitable[M]],
    alongside: Callable[[M], Alongside] | None,
) -> M:
    forget = "DELETE FROM operations WHERE caller = $1 AND request_id = $2"
    try:
        answer = await work()
    except BaseException:
        # Nothing was achieved (a reverted or refused transaction moves nothing): let a retry
        # run again.
        await pool.execute(forget, *key)
        raise
    done = (
        "UPDATE operations SET state = 'done', response = $3 WHERE caller = $1 AND request_id = $2"
    )
    if alongside is None:
        await pool.execute(done, *key, answer.SerializeToString())
        return answer
    sql, args = alongside(answer)
    try:
        await pool.execute(
            f"WITH alongside AS ({sql}) {done}", *key, answer.SerializeToString(), *args
        )
    except BaseException:
        # Neither write happened: let a retry run now rather than after the lease.
        with contextlib.suppress(Exception):
            await pool.execute(forget, *key)
        raise
    return answer


def transaction_id(request_id: str) -> str:
    """The id a transaction sent for the calling service's `request_id` is recorded under, so
    that a retry resumes its own transaction and never another service's."""
    return request_ids.scoped(current_caller().service, request_id)
