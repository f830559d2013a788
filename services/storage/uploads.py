"""The upload journal: one row per PutObject request_id, written before anything is paid."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg

from services.storage.errors import RequestIdReused
from services.storage.model import PutHeader
from zerog_db import Executor


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


def scoped_id(principal: str, request_id: str) -> str:
    """A caller's request_id made unique across callers, for the ids we send to the broker and
    quota (which see only storage as their caller)."""
    return hashlib.sha256(f"{principal}\x00{request_id}".encode()).hexdigest()[:40]


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


async def begin(db: Executor, header: PutHeader, principal: str, root: bytes) -> Upload:
    """Record the request (or find it again), counting the attempt; RequestIdReused on mismatch."""
    digest = header_digest(header, principal)
    row = await db.fetchrow(
        """
        INSERT INTO uploads (request_id, principal, namespace, name, header_digest, size,
                             sha256, replicas, root, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)
        ON CONFLICT (principal, request_id) DO UPDATE
            SET attempts = uploads.attempts + 1, updated_at = now()
            WHERE uploads.header_digest = $5
        RETURNING *
        """,
        header.request_id,
        principal,
        header.namespace,
        header.name,
        digest,
        header.size,
        header.sha256,
        header.replicas,
        root,
    )
    if row is None:
        raise RequestIdReused(header.request_id)
    return _upload(row)


async def find(db: Executor, principal: str, request_id: str) -> tuple[bytes, Upload] | None:
    """The header digest and state of a caller's request, if it was seen."""
    row = await db.fetchrow(
        "SELECT * FROM uploads WHERE principal = $1 AND request_id = $2", principal, request_id
    )
    return None if row is None else (bytes(row["header_digest"]), _upload(row))


async def mark_submitting(db: Executor, principal: str, request_id: str) -> None:
    """About to ask the broker to pay (a crash now is resumed by the broker's idempotency)."""
    await db.execute(
        "UPDATE uploads SET state = 'submitting', updated_at = now()"
        " WHERE principal = $2 AND request_id = $1 AND state = 'received'",
        request_id,
        principal,
    )


async def mark_submitted(
    db: Executor, principal: str, request_id: str, tx_seq: int, tx_hash: str, fee: int
) -> None:
    """The Flow submission is paid and mined: its tx seq is carried by every retry."""
    await db.execute(
        """
        UPDATE uploads SET state = 'submitted', tx_seq = $2, tx_hash = $3, fee_neuron = $4,
               updated_at = now()
        WHERE principal = $5 AND request_id = $1 AND state IN ('received', 'submitting')
        """,
        request_id,
        tx_seq,
        tx_hash,
        fee,
        principal,
    )


async def mark_stored(
    db: Executor, principal: str, request_id: str, tx_seq: int, version: int, deduplicated: bool
) -> None:
    """The object version exists; the request is done."""
    await db.execute(
        """
        UPDATE uploads SET state = 'stored', tx_seq = $2, version = $3, deduplicated = $4,
               updated_at = now()
        WHERE principal = $5 AND request_id = $1
        """,
        request_id,
        tx_seq,
        version,
        deduplicated,
        principal,
    )
