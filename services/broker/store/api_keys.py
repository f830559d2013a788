"""The broker.api_keys table: persistent API keys (their fields, never the key itself)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import asyncpg

from services.broker.store import locks
from zerog_db import Connection


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """One stored API key (no secret)."""

    provider: str
    token_id: int
    label: str
    generation: int
    issued_ms: int
    expires_ms: int
    nonce: str
    revoked: bool
    created_at: datetime


def _key(row: asyncpg.Record) -> ApiKeyRow:
    # Each field is named for its column.
    return ApiKeyRow(**{f.name: row[f.name] for f in fields(ApiKeyRow)})


async def used_token_ids(conn: Connection, provider: str) -> frozenset[int]:
    """The provider's token ids ever issued, once no other replica is choosing one."""
    await locks.hold_named(conn, f"broker.api_keys:{provider.lower()}")
    rows = await conn.fetch("SELECT token_id FROM api_keys WHERE provider = $1", provider)
    return frozenset(r["token_id"] for r in rows)


async def insert_api_key(conn: Connection, key: ApiKeyRow, key_sha256: str) -> None:
    await conn.execute(
        """
        INSERT INTO api_keys (provider, token_id, label, generation, issued_ms, expires_ms,
            nonce, key_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        key.provider,
        key.token_id,
        key.label,
        key.generation,
        key.issued_ms,
        key.expires_ms,
        key.nonce,
        key_sha256,
    )


async def get_api_key(pool: asyncpg.Pool, provider: str, token_id: int) -> ApiKeyRow | None:
    row = await pool.fetchrow(
        "SELECT * FROM api_keys WHERE provider = $1 AND token_id = $2", provider, token_id
    )
    return _key(row) if row else None


async def list_api_keys(
    pool: asyncpg.Pool, provider: str, include_revoked: bool, offset: int, limit: int
) -> list[ApiKeyRow]:
    rows = await pool.fetch(
        """
        SELECT * FROM api_keys WHERE ($1 = '' OR provider = $1) AND ($2 OR NOT revoked)
        ORDER BY created_at DESC, provider, token_id OFFSET $3 LIMIT $4
        """,
        provider,
        include_revoked,
        offset,
        limit,
    )
    return [_key(r) for r in rows]


async def revoke_api_key(pool: asyncpg.Pool, provider: str, token_id: int) -> ApiKeyRow | None:
    """Mark the key revoked; the key as stored now."""
    row = await pool.fetchrow(
        "UPDATE api_keys SET revoked = true WHERE provider = $1 AND token_id = $2 RETURNING *",
        provider,
        token_id,
    )
    return _key(row) if row else None


async def revoke_all_api_keys(pool: asyncpg.Pool, provider: str) -> int:
    result = await pool.execute(
        "UPDATE api_keys SET revoked = true WHERE provider = $1 AND NOT revoked", provider
    )
    return int(result.split()[-1])
