"""Idempotency for mutating calls besides PutObject: the first response, stored per request_id
of the calling service and principal."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from services.storage.errors import RequestIdReused
from zerog_grpc import current_caller

R = TypeVar("R", bound=Message)


async def once(
    pool: asyncpg.Pool,
    principal: str,
    method: str,
    request_id: str,
    request: Message,
    response_type: type[R],
    run: Callable[[], Awaitable[R]],
) -> R:
    """`run()` the first time; the stored response for a retry; RequestIdReused if it differs."""
    digest = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
    # Two services acting for one user are two callers: their request_ids are their own.
    # The service's length first, so each (service, principal) pair has one spelling.
    service = current_caller().service
    key = (f"{len(service)}:{service}:{principal}", method, request_id)
    row = await pool.fetchrow(
        "SELECT digest, response FROM requests"
        " WHERE principal = $1 AND method = $2 AND request_id = $3",
        *key,
    )
    if row is not None:
        if bytes(row["digest"]) != digest:
            raise RequestIdReused(request_id)
        return response_type.FromString(bytes(row["response"]))
    response = await run()
    await pool.execute(
        "INSERT INTO requests (principal, method, request_id, digest, response)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        *key,
        digest,
        response.SerializeToString(),
    )
    return response
