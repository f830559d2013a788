"""SQL for the upload journal: one row per PutObject request_id of a calling service and
principal, written before anything is paid."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.storage.model import PutHeader
from services.storage.uploads import Owner, header_digest
from zerog_db import Executor, RequestIdReused

_KEY = "caller = $1 AND principal = $2 AND request_id = $3"


@dataclass(frozen=True)
class Upload:
    """Where one PutObject request stands."""

    request_id: str
    state: str
    attempts: int
    root: bytes | None
    tx_seq: int | None
    version: int | None
    deduplicated: bool


async def owner(db: Executor, service: str, principal: str, request_id: str) -> Owner:
    """The owner a service's request is journaled under: its own, or, for a retry of a request
    journaled before rows named their service, that row's (which it resumes, paying nothing
    again; the header digest still refuses a different request)."""
    found = await db.fetchval(
        "SELECT caller FROM uploads WHERE principal = $1 AND request_id = $2"
        " AND caller IN ($3, '') ORDER BY caller DESC LIMIT 1",
        principal,
        request_id,
        service,
    )
    return Owner(service if found is None else found, principal)


def _upload(row: asyncpg.Record) -> Upload:
    root = row["root"]
    return Upload(
        row["request_id"],
        row["state"],
        row["attempts"],
        None if root is None else bytes(root),
        row["tx_seq"],
        row["version"],
        row["deduplicated"],
    )


async def begin(db: Executor, header: PutHeader, owner: Owner, root: bytes) -> Upload:
    """Record the request (or find it again), counting the attempt; RequestIdReused on mismatch."""
    row = await db.fetchrow(
        """
        INSERT INTO uploads (request_id, principal, namespace, name, header_digest, size,
                             sha256, replicas, root, attempts, caller)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10)
        ON CONFLICT (caller, principal, request_id) DO UPDATE
            SET attempts = uploads.attempts + 1, updated_at = now()
            WHERE uploads.header_digest = $5
        RETURNING *
        """,
        header.request_id,
        owner.principal,
        header.namespace,
        header.name,
        header_digest(header, owner.principal),
        header.size,
        header.sha256,
        header.replicas,
        root,
        owner.service,
    )
    if row is None:
        raise RequestIdReused(header.request_id)
    return _upload(row)


async def find(db: Executor, owner: Owner, request_id: str) -> tuple[bytes, Upload] | None:
    """The header digest and state of a caller's request, if it was seen."""
    row = await db.fetchrow(
        f"SELECT * FROM uploads WHERE {_KEY}", owner.service, owner.principal, request_id
    )
    return None if row is None else (bytes(row["header_digest"]), _upload(row))


async def advance(
    db: Executor,
    owner: Owner,
    request_id: str,
    state: str,
    *,
    only_from: tuple[str, ...] = (),
    **columns: object,
) -> None:
    """Move a request on to `state` (from one of `only_from`, when given), setting `columns`:
    'submitting' before the broker is asked to pay (a crash then is resumed by the broker's
    idempotency), 'submitted' with the paid tx every retry carries, 'stored' with the version."""
    sets = "".join(f", {name} = ${i + 6}" for i, name in enumerate(columns))
    await db.execute(
        f"UPDATE uploads SET state = $4{sets}, updated_at = now()"
        f" WHERE {_KEY} AND (cardinality($5::text[]) = 0 OR state = ANY($5::text[]))",
        owner.service,
        owner.principal,
        request_id,
        state,
        list(only_from),
        *columns.values(),
    )
