"""SQL for contents: one row per merkle root on 0G Storage, with what its last check found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.storage.model import VerifyState
from zerog_db import Executor


@dataclass(frozen=True)
class Content:
    """What we know about one merkle root on 0G Storage."""

    root: bytes
    size: int
    sha256: bytes
    tx_seq: int
    replicas: int
    verify_state: VerifyState


def _content(row: asyncpg.Record) -> Content:
    return Content(
        bytes(row["root"]),
        row["size"],
        bytes(row["sha256"]),
        row["tx_seq"],
        row["replicas"],
        VerifyState(row["verify_state"]),
    )


async def get(db: Executor, root: bytes) -> Content | None:
    """The content row of a root."""
    row = await db.fetchrow("SELECT * FROM contents WHERE root = $1", root)
    return None if row is None else _content(row)


async def save(
    db: Executor, root: bytes, size: int, sha256: bytes, tx_seq: int, replicas: int
) -> None:
    """Record content now on 0G Storage (more replicas or a fresher tx update the row)."""
    await db.execute(
        """
        INSERT INTO contents (root, size, sha256, tx_seq, replicas) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (root) DO UPDATE
            SET replicas = greatest(contents.replicas, $5), tx_seq = $4
        """,
        root,
        size,
        sha256,
        tx_seq,
        replicas,
    )


async def set_verification(
    db: Executor, root: bytes, state: VerifyState, detail: str, now: datetime
) -> None:
    """Record a check's outcome; verified_at moves only when it succeeded."""
    await db.execute(
        """
        UPDATE contents SET verify_state = $2, verify_detail = $3, checked_at = $4,
               verified_at = CASE WHEN $2 = 'verified' THEN $4 ELSE verified_at END
        WHERE root = $1
        """,
        root,
        state.value,
        detail,
        now,
    )


async def set_tx_seq(db: Executor, root: bytes, tx_seq: int) -> None:
    """The content now lives under a newer tx (after a recovery)."""
    await db.execute("UPDATE contents SET tx_seq = $2 WHERE root = $1", root, tx_seq)


async def due_for_check(
    db: Executor, namespace: str | None, checked_before: datetime | None, limit: int
) -> list[Content]:
    """Contents of objects (deleted ones too) not checked since `checked_before`, oldest first."""
    rows = await db.fetch(
        """
        SELECT c.* FROM contents c
        WHERE EXISTS (SELECT 1 FROM objects o WHERE o.root = c.root
                      AND ($1::text IS NULL OR o.namespace = $1))
          AND ($2::timestamptz IS NULL OR c.checked_at IS NULL OR c.checked_at < $2)
        ORDER BY c.checked_at NULLS FIRST, c.root LIMIT $3
        """,
        namespace,
        checked_before,
        limit,
    )
    return [_content(r) for r in rows]
