"""Idempotency: one primitive for every mutating RPC of every service.

A request is keyed by (scope, request_id): the scope is who asked (the calling service, and the
principal where one acts for several). The first arrival claims the key with a lease; the work
runs; its answer is stored under the claim, in the same transaction as the work's own writes
(or the same statement). A retry gets the stored answer; a different request under the same id
is refused (RequestIdReused); a duplicate that arrives while the first still runs is told to come
back (RequestInProgress, which the error map sends as ABORTED with a RetryInfo). A claim whose
lease has passed belonged to a replica that died: the next arrival takes it over (a live call
renews its lease while it works, so the lease can be short). A failed call gives its claim up, so
the caller's retry runs again.

Three ways to use it, by what the work touches:
- `run(...)`: work with an outside effect (a chain transaction, a provider call, an upload). The
  claim is committed first, so concurrent retries never both reach the outside world.
- `run_in_transaction(...)`: work that only writes this service's tables; they and the answer
  commit together.
- `run_checked(...)`: a check that reads the outside world (and may wait), then writes of this
  service's tables committed with the answer (the broker's Fund: a chain receipt, then the credit
  and the intent's nonce).
- `statement(...)` + `replay(...)`: work that is one SQL statement; the claim is one more CTE in
  it, so the call stays one round trip (quota's Reserve and Commit).

The table is `idempotency` in each service's schema, made by the kernel migrations.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from zerog_db.pool import Connection, Executor

M = TypeVar("M", bound=Message)
T = TypeVar("T")
# A write that belongs with the answer: (SQL of a data-modifying statement usable as a CTE,
# whose parameters start at $5, its arguments). See `Once.finish`.
Alongside = tuple[str, tuple[object, ...]]
_KEY = "scope = $1 AND request_id = $2"
_PARAM = re.compile(r"\$(\d+)")
_PRIMARY_KEY = "idempotency_pkey"
log = logging.getLogger(__name__)


class RequestIdReused(Exception):
    """A request_id came back with a different request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was used for a different request")
        self.request_id = request_id


class RequestInProgress(Exception):
    """The first call with this request_id is still running: retry after `retry_after` s."""

    def __init__(self, request_id: str, retry_after: float) -> None:
        super().__init__(f"request_id {request_id!r} is still being processed; retry shortly")
        self.request_id = request_id
        self.retry_after = retry_after


@dataclass(frozen=True)
class Request:
    """What is asked, and by whom: the key and the fingerprint that tells a retry apart."""

    scope: str
    request_id: str
    method: str
    fingerprint: str

    @classmethod
    def of(cls, scope: str, request_id: str, method: str, message: Message) -> Request:
        """`message` fingerprinted by its deterministic serialization."""
        digest = hashlib.sha256(method.encode() + b"\0")
        digest.update(message.SerializeToString(deterministic=True))
        return cls(scope, request_id, method, digest.hexdigest())


@dataclass(frozen=True)
class Claim:
    """The right to run one request: held by whoever holds the token."""

    request: Request
    token: uuid.UUID


class Once:
    """The idempotency primitive over one service's `idempotency` table."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        lease: timedelta = timedelta(minutes=5),
        retry_after: float = 1.0,
    ) -> None:
        self._pool = pool
        self.lease = lease
        self.retry_after = retry_after

    async def claim(self, request: Request) -> Claim | bytes:
        """A Claim to run `request`, or its stored answer; RequestInProgress while another
        holds a live claim, RequestIdReused when the id was used for something else."""
        # A few rounds at most: a key can be given up between our two statements.
        for _ in range(5):
            got = await self._try_claim(request)
            if got is not None:
                return got
        raise RequestInProgress(request.request_id, self.retry_after)

    async def _try_claim(self, request: Request) -> Claim | bytes | None:
        token = uuid.uuid4()
        won = await self._pool.fetchval(
            "INSERT INTO idempotency"
            " (scope, request_id, method, fingerprint, claim_token, lease_until)"
            " VALUES ($1, $2, $3, $4, $5, now() + $6::interval)"
            " ON CONFLICT (scope, request_id) DO UPDATE"
            " SET claim_token = $5, lease_until = now() + $6::interval"
            " WHERE idempotency.response IS NULL AND idempotency.lease_until < now()"
            " AND idempotency.method = $3 AND idempotency.fingerprint = $4"
            " RETURNING claim_token",
            request.scope,
            request.request_id,
            request.method,
            request.fingerprint,
            token,
            self.lease,
        )
        if won is not None:
            return Claim(request, token)
        return await self.replay(request)

    async def replay(self, request: Request, db: Executor | None = None) -> bytes | None:
        """The stored answer of `request` (b"" for a statement's claim), None if the key is
        free; RequestIdReused or RequestInProgress as `claim` says."""
        row = await (db or self._pool).fetchrow(
            f"SELECT method, fingerprint, response FROM idempotency WHERE {_KEY}",
            request.scope,
            request.request_id,
        )
        if row is None:
            return None
        if row["method"] != request.method or row["fingerprint"] != request.fingerprint:
            raise RequestIdReused(request.request_id)
        if row["response"] is None:
            raise RequestInProgress(request.request_id, self.retry_after)
        return bytes(row["response"])

    async def finish(
        self,
        claim: Claim,
        answer: Message,
        db: Executor | None = None,
        alongside: Alongside | Sequence[Alongside] | None = None,
    ) -> bool:
        """Store `answer` under `claim` (in `db`'s transaction when given); False if the claim
        was taken over meanwhile. `alongside` (one write or several) runs in the same
        statement: one round trip, and all writes or none. They run even when the claim was
        taken over: what they record happened either way."""
        done = (
            "UPDATE idempotency SET response = $4, claim_token = NULL, lease_until = NULL"
            f" WHERE {_KEY} AND claim_token = $3 RETURNING 1"
        )
        args: tuple[object, ...] = (
            claim.request.scope,
            claim.request.request_id,
            claim.token,
            answer.SerializeToString(),
        )
        ctes = []
        for i, (sql, extra) in enumerate(_writes(alongside)):
            # Each write numbers its parameters from $5: shift them past the earlier writes'.
            ctes.append(f"w{i} AS ({_shifted(sql, len(args) - 4)})")
            args = (*args, *extra)
        if ctes:
            done = f"WITH {', '.join(ctes)} {done}"
        return await (db or self._pool).fetchval(done, *args) is not None

    async def holds(self, claim: Claim, db: Executor) -> bool:
        """Whether `claim` still holds its key; inside a transaction the row stays locked until
        it ends, so writes made under the claim never race a takeover."""
        found = await db.fetchval(
            f"SELECT 1 FROM idempotency WHERE {_KEY} AND claim_token = $3 FOR UPDATE",
            claim.request.scope,
            claim.request.request_id,
            claim.token,
        )
        return found is not None

    async def renew(self, claim: Claim) -> bool:
        """Push `claim`'s lease a whole lease past now; False once it is no longer held."""
        renewed = await self._pool.fetchval(
            "UPDATE idempotency SET lease_until = now() + $4::interval"
            f" WHERE {_KEY} AND claim_token = $3 RETURNING 1",
            claim.request.scope,
            claim.request.request_id,
            claim.token,
            self.lease,
        )
        return renewed is not None

    async def _keep_alive(self, claim: Claim) -> None:
        # Three renewals per lease: a live call's claim never lapses, so the lease can be short
        # and a dead replica's claim is taken over soon.
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                if not await self.renew(claim):
                    return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("claim renewal failed", extra={"error": type(error).__name__})

    async def release(self, claim: Claim) -> None:
        """Give `claim` up after a failure, so the caller's retry runs."""
        # Shielded: a cancelled call still lets go instead of holding the key for a lease.
        await asyncio.shield(
            self._pool.execute(
                f"DELETE FROM idempotency WHERE {_KEY} AND claim_token = $3",
                claim.request.scope,
                claim.request.request_id,
                claim.token,
            )
        )

    async def run(
        self,
        request: Request,
        response_type: type[M],
        work: Callable[[], Awaitable[M]],
        *,
        alongside: Callable[[M], Alongside] | None = None,
        shield: bool = False,
    ) -> M:
        """`work()` once for `request`, its answer stored; the stored answer for a retry.

        With `shield`, a caller hanging up does not cancel the work: money never moves
        halfway, and the answer is stored for the retry."""

        async def complete(claim: Claim) -> M:
            answer = await work()
            stored = None if alongside is None else alongside(answer)
            if not await self.finish(claim, answer, alongside=stored):
                log.warning("claim taken over while its work ran", extra={"method": request.method})
            return answer

        return await self._once(request, response_type, complete, shield)

    async def run_in_transaction(
        self,
        request: Request,
        response_type: type[M],
        work: Callable[[Connection], Awaitable[M]],
    ) -> M:
        """`work(conn)` once for `request`: its writes and the stored answer commit together."""

        async def complete(claim: Claim) -> M:
            async with self._pool.acquire() as conn, conn.transaction():
                answer = await work(conn)
                if not await self.finish(claim, answer, conn):
                    # Our lease passed and another call holds the key: undo our writes.
                    raise RequestInProgress(request.request_id, self.retry_after)
            return answer

        return await self._once(request, response_type, complete, shield=False)

    async def run_checked(
        self,
        request: Request,
        response_type: type[M],
        check: Callable[[], Awaitable[T]],
        commit: Callable[[Connection, T], Awaitable[M]],
    ) -> M:
        """`check()` then `commit(conn, checked)` once for `request`: the check (reads that may
        wait, such as a chain's confirmations) holds no transaction open; the commit's writes and
        the stored answer commit together. A failed check writes nothing, so a retry under the
        same request_id runs again from the start."""

        async def complete(claim: Claim) -> M:
            checked = await check()
            async with self._pool.acquire() as conn, conn.transaction():
                answer = await commit(conn, checked)
                if not await self.finish(claim, answer, conn):
                    raise RequestInProgress(request.request_id, self.retry_after)
            return answer

        return await self._once(request, response_type, complete, shield=False)

    async def _once(
        self,
        request: Request,
        response_type: type[M],
        complete: Callable[[Claim], Awaitable[M]],
        shield: bool,
    ) -> M:
        got = await self.claim(request)
        if isinstance(got, bytes):
            return response_type.FromString(got)

        async def holding(claim: Claim) -> M:
            alive = asyncio.ensure_future(self._keep_alive(claim))
            try:
                return await complete(claim)
            except BaseException:
                await self.release(claim)
                raise
            finally:
                alive.cancel()

        task = asyncio.ensure_future(holding(got))
        return await asyncio.shield(task) if shield else await task

    @staticmethod
    def statement(request: Request, first: int) -> Alongside:
        """An INSERT that claims and completes `request` inside the caller's own statement
        (use it as a CTE; its parameters start at `$first`). A duplicate's statement fails
        on the key, and `is_duplicate(error)` tells the caller to `replay` instead."""
        sql = (
            "INSERT INTO idempotency (scope, request_id, method, fingerprint, response)"
            f" VALUES (${first}, ${first + 1}, ${first + 2}, ${first + 3}, ''::bytea)"
        )
        return sql, (request.scope, request.request_id, request.method, request.fingerprint)

    @staticmethod
    def is_duplicate(error: BaseException) -> bool:
        """Whether `error` is a statement's claim meeting an earlier one."""
        return (
            isinstance(error, asyncpg.UniqueViolationError)
            and getattr(error, "constraint_name", None) == _PRIMARY_KEY
        )


def _writes(alongside: Alongside | Sequence[Alongside] | None) -> list[Alongside]:
    """`alongside` as a list of writes: one (SQL, arguments), several, or none."""
    if alongside is None:
        return []
    first = alongside[0]
    if isinstance(first, str):
        return [(first, tuple(alongside[1]))]
    return list(alongside)  # type: ignore[arg-type]


def _shifted(sql: str, by: int) -> str:
    """`sql` with every $n parameter numbered n + `by`."""
    return _PARAM.sub(lambda m: f"${int(m[1]) + by}", sql)
