"""The upload journal: one row per PutObject request_id of a calling service and principal,
written before anything is paid."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from services.storage.errors import RequestIdReused
from services.storage.model import PutHeader
from zerog_db import Executor
from zerog_grpc import request_ids


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


@dataclass(frozen=True)
class Owner:
    """Whose request an upload is: the calling service and the principal it acts as (the user
    when one is named). Two services acting for one user have request_ids of their own."""

    service: str  # '' for a row journaled before rows named their service (migration 004)
    principal: str


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


def _before_004(owner: Owner, request_id: str) -> str:
    # How an upload journaled before migration 004 was named to the broker and quota.
    return hashlib.sha256(f"{owner.principal}\x00{request_id}".encode()).hexdigest()[:40]


def put_id(owner: Owner, request_id: str) -> str:
    """The broker request_id of the upload's Flow submission: one per owner and request_id
    (the broker sees only storage as its caller), so a retry is answered by the paid one."""
    if not owner.service:
        return f"storage-put:{_before_004(owner, request_id)}"
    return request_ids.derived("storage-put", owner.service, owner.principal, request_id)


def reserve_id(owner: Owner, request_id: str, attempt: int) -> str:
    """The quota request_id of one attempt's reservation (a replay finds it again)."""
    if not owner.service:
        return f"storage-put:{_before_004(owner, request_id)}:{attempt}"
    return request_ids.derived(
        "storage-put", owner.service, owner.principal, request_id, str(attempt)
    )


def header_digest(header: PutHeader, principal: str) -> bytes:
    """What makes a retry the same request: who, where, which bytes and how stored."""
    meta = "\x00".join(f"{k}={v}" for k, v in sorted(header.metadata.items()))
    text = "\x01".join(
        [
            principal,
            header.namespace,
            header.name,
            str(header.size),
            header.sha256.hex(),
            str(header.replicas),
            header.content_type,
            meta,
        ]
    )
    return hashlib.sha256(text.encode()).digest()


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
    digest = header_digest(header, owner.principal)
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
        digest,
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
        "SELECT * FROM uploads WHERE caller = $1 AND principal = $2 AND request_id = $3",
        owner.service,
        owner.principal,
        request_id,
    )
    return None if row is None else (bytes(row["header_digest"]), _upload(row))


async def mark_submitting(db: Executor, owner: Owner, request_id: str) -> None:
    """About to ask the broker to pay (a crash now is resumed by the broker's idempotency)."""
    await db.execute(
        "UPDATE uploads SET state = 'submitting', updated_at = now()"
        " WHERE caller = $3 AND principal = $2 AND request_id = $1 AND state = 'received'",
        request_id,
        owner.principal,
        owner.service,
    )


async def mark_submitted(
    db: Executor, owner: Owner, request_id: str, tx_seq: int, tx_hash: str, fee: int
) -> None:
    """The Flow submission is paid and mined: its tx seq is carried by every retry."""
    await db.execute(
        """
        UPDATE uploads SET state = 'submitted', tx_seq = $2, tx_hash = $3, fee_neuron = $4,
               updated_at = now()
        WHERE caller = $6 AND principal = $5 AND request_id = $1
              AND state IN ('received', 'submitting')
        """,
        request_id,
        tx_seq,
        tx_hash,
        fee,
        owner.principal,
        owner.service,
    )


async def mark_stored(
    db: Executor, owner: Owner, request_id: str, tx_seq: int, version: int, deduplicated: bool
) -> None:
    """The object version exists; the request is done."""
    await db.execute(
        """
        UPDATE uploads SET state = 'stored', tx_seq = $2, version = $3, deduplicated = $4,
               updated_at = now()
        WHERE caller = $6 AND principal = $5 AND request_id = $1
        """,
        request_id,
        tx_seq,
        version,
        deduplicated,
        owner.principal,
        owner.service,
    )
