"""Request ids claimed atomically before any provider is called, answered once, replayed after.

The first arrival of (caller, method, request_id) inserts a pending row with a fresh claim token;
any other arrival, on this replica or another sharing the database, finds that row and either gets
the stored answer (finished), RequestInProgress (pending, lease running) or takes the claim over
(pending, lease expired: its owner died). A failed call deletes its claim so the caller's retry
runs; finishing or releasing only touches a row still holding the owner's token, so an owner that
lost its claim to a takeover cannot overwrite the new owner's answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.inference.errors import RequestIdReused, RequestInProgress
from zerog_db.pool import Executor

WallClock = Callable[[], datetime]
_KEY = "caller = $1 AND method = $2 AND request_id = $3"


@dataclass(frozen=True)
class Claim:
    """The right to run one request: held by whoever holds the token."""

    caller: str
    method: str
    request_id: str
    token: uuid.UUID


class Claims:
    """Claims over `inference.responses`; leases measured on the injected wall clock."""

    def __init__(
        self, pool: asyncpg.Pool, lease: timedelta, now: WallClock, retry_after: float
    ) -> None:
        self._pool = pool
        self._lease = lease
        self._now = now
        self.retry_after = retry_after

    async def claim(
        self, caller: str, method: str, request_id: str, fingerprint: str
    ) -> Claim | bytes:
        """A Claim to run the request, or the stored answer; RequestInProgress or
        RequestIdReused when another holds it or it asked something else."""
        # A few rounds at most: a row can vanish (released) or change hands between statements.
        for _ in range(5):
            token, now = uuid.uuid4(), self._now()
            won = await self._pool.fetchval(
                "INSERT INTO inference.responses"
                " (caller, method, request_id, fingerprint, claim_token, claimed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING claim_token",
                caller,
                method,
                request_id,
                fingerprint,
                token,
                now,
            )
            if won is not None:
                return Claim(caller, method, request_id, token)
            row = await self._pool.fetchrow(
                f"SELECT fingerprint, response, claim_token, claimed_at"
                f" FROM inference.responses WHERE {_KEY}",
                caller,
                method,
                request_id,
            )
            if row is None:
                continue
            if row["fingerprint"] != fingerprint:
                raise RequestIdReused(request_id)
            if row["response"] is not None:
                return bytes(row["response"])
            if row["claimed_at"] + self._lease > now:
                raise RequestInProgress(request_id, self.retry_after)
            taken = await self._pool.fetchval(
                f"UPDATE inference.responses SET claim_token = $5, claimed_at = $6"
                f" WHERE {_KEY} AND claim_token = $4 RETURNING claim_token",
                caller,
                method,
                request_id,
                row["claim_token"],
                token,
                now,
            )
            if taken is not None:
                return Claim(caller, method, request_id, token)
        raise RequestInProgress(request_id, self.retry_after)

    async def owns(self, db: Executor, claim: Claim) -> bool:
        """Whether `claim` is still held; in a transaction, locks the row until it ends."""
        found = await db.fetchval(
            f"SELECT 1 FROM inference.responses WHERE {_KEY} AND claim_token = $4 FOR UPDATE",
            claim.caller,
            claim.method,
            claim.request_id,
            claim.token,
        )
        return found is not None

    async def finish(
        self,
        claim: Claim,
        response: bytes,
        *,
        provider: str = "",
        verification: str = "",
    ) -> None:
        """Store the answer under the claim (nothing if the claim was taken over meanwhile)."""
        await self._pool.execute(
            f"UPDATE inference.responses SET response = $5, provider = $6, verification = $7,"
            f" claim_token = NULL, claimed_at = NULL WHERE {_KEY} AND claim_token = $4",
            claim.caller,
            claim.method,
            claim.request_id,
            claim.token,
            response,
            provider,
            verification,
        )

    async def release(self, claim: Claim) -> None:
        """Give the claim up after a failure, so the caller's retry runs."""
        # Shielded: a cancelled call still lets go of its claim instead of holding the lease.
        await asyncio.shield(
            self._pool.execute(
                f"DELETE FROM inference.responses WHERE {_KEY} AND claim_token = $4",
                claim.caller,
                claim.method,
                claim.request_id,
                claim.token,
            )
        )


async def run_once(
    claims: Claims,
    caller: str,
    method: str,
    request_id: str,
    fingerprint: str,
    run: Callable[[Claim], Awaitable[tuple[Any, dict[str, str]]]],
    parse: Callable[[bytes], Any],
) -> Any:
    """`run` under a claim and its answer stored; the stored answer if there is one."""
    got = await claims.claim(caller, method, request_id, fingerprint)
    if isinstance(got, bytes):
        return parse(got)
    try:
        response, extra = await run(got)
    except BaseException:
        await claims.release(got)
        raise
    await claims.finish(got, response.SerializeToString(), **extra)
    return response
