"""SQL of the HTTP endpoint's bearer keys (inference.api_keys, migration 007): only each
secret's SHA-256 is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zerog_db import Executor

_COLUMNS = "key_id, subject, name, created_at, revoked_at"


@dataclass(frozen=True)
class KeyRow:
    """A key without its secret."""

    key_id: str
    subject: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


async def insert(db: Executor, key_id: str, digest: bytes, subject: str, name: str) -> KeyRow:
    row = await db.fetchrow(
        "INSERT INTO inference.api_keys (key_id, secret_sha256, subject, name)"
        f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
        key_id,
        digest,
        subject,
        name,
    )
    assert row is not None  # INSERT ... RETURNING gives its row
    return KeyRow(**row)


async def revoke(db: Executor, key_id: str) -> KeyRow | None:
    """The key, revoked now (or when it was first revoked); None if there is no such key."""
    row = await db.fetchrow(
        "UPDATE inference.api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp())"
        f" WHERE key_id = $1 RETURNING {_COLUMNS}",
        key_id,
    )
    return None if row is None else KeyRow(**row)


async def live_by_digest(db: Executor, digest: bytes) -> KeyRow | None:
    """The unrevoked key whose secret hashes to `digest`."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM inference.api_keys"
        " WHERE secret_sha256 = $1 AND revoked_at IS NULL",
        digest,
    )
    return None if row is None else KeyRow(**row)


async def listed(db: Executor, subject: str, include_revoked: bool, limit: int) -> list[KeyRow]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM inference.api_keys"
        " WHERE ($1 = '' OR subject = $1) AND ($2 OR revoked_at IS NULL)"
        " ORDER BY created_at DESC, key_id LIMIT $3",
        subject,
        include_revoked,
        limit,
    )
    return [KeyRow(**row) for row in rows]
