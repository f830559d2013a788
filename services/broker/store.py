"""Every SQL statement of the broker. Functions take the pool (or a connection) first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from zerog_chain import TxRecord
from zerog_db import Connection


class PgRecorder:
    """zerog_chain's recorder hook: every transaction lands in broker.transactions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, tx: TxRecord) -> None:
        await self._pool.execute(
            """
            INSERT INTO transactions (tx_hash, purpose, request_id, sender, to_address, nonce,
                value_neuron, gas_limit, gas_used, effective_gas_price, block_number, status, error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (tx_hash) DO UPDATE SET gas_used = EXCLUDED.gas_used,
                effective_gas_price = EXCLUDED.effective_gas_price,
                block_number = EXCLUDED.block_number, status = EXCLUDED.status,
                error = EXCLUDED.error, updated_at = now()
            """,
            tx.tx_hash,
            tx.purpose,
            tx.request_id,
            tx.sender,
            tx.to,
            tx.nonce,
            tx.value,
            tx.gas_limit,
            tx.gas_used,
            tx.effective_gas_price,
            tx.block_number,
            tx.status,
            tx.error,
        )


async def live_transaction(pool: asyncpg.Pool, request_id: str, purpose: str) -> TxRecord | None:
    """A pending or succeeded transaction an earlier attempt of `request_id` sent."""
    row = await pool.fetchrow(
        """
        SELECT * FROM transactions WHERE request_id = $1 AND purpose = $2
            AND status <> 'failed' ORDER BY created_at DESC LIMIT 1
        """,
        request_id,
        purpose,
    )
    if row is None:
        return None
    return TxRecord(
        tx_hash=row["tx_hash"],
        purpose=row["purpose"],
        request_id=row["request_id"],
        sender=row["sender"],
        to=row["to_address"],
        nonce=row["nonce"],
        value=int(row["value_neuron"]),
        gas_limit=row["gas_limit"],
        status=row["status"],
        gas_used=row["gas_used"],
        block_number=row["block_number"],
    )


async def list_transactions(
    pool: asyncpg.Pool, purpose: str, after: tuple[datetime, str] | None, limit: int
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (created_at, tx_hash)."""
    return await pool.fetch(
        """
        SELECT * FROM transactions
        WHERE ($1 = '' OR purpose = $1)
          AND ($2::timestamptz IS NULL OR (created_at, tx_hash) < ($2, $3))
        ORDER BY created_at DESC, tx_hash DESC LIMIT $4
        """,
        purpose,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )


async def record_acknowledgement(pool: asyncpg.Pool, provider: str, tee_signer: str) -> None:
    await pool.execute(
        """
        INSERT INTO acknowledgements (provider, tee_signer) VALUES ($1, $2)
        ON CONFLICT (provider) DO UPDATE SET tee_signer = $2, acknowledged_at = now()
        """,
        provider,
        tee_signer,
    )


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
    return ApiKeyRow(
        row["provider"],
        row["token_id"],
        row["label"],
        row["generation"],
        row["issued_ms"],
        row["expires_ms"],
        row["nonce"],
        row["revoked"],
        row["created_at"],
    )


async def used_token_ids(conn: Connection, provider: str) -> frozenset[int]:
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


async def revoke_api_key(pool: asyncpg.Pool, provider: str, token_id: int) -> None:
    await pool.execute(
        "UPDATE api_keys SET revoked = true WHERE provider = $1 AND token_id = $2",
        provider,
        token_id,
    )


async def revoke_all_api_keys(pool: asyncpg.Pool, provider: str) -> int:
    result = await pool.execute(
        "UPDATE api_keys SET revoked = true WHERE provider = $1 AND NOT revoked", provider
    )
    return int(result.split()[-1])


async def record_usage(
    pool: asyncpg.Pool,
    request_id: str,
    provider: str,
    user: str,
    chat_id: str,
    input_tokens: int,
    output_tokens: int,
    fee: int,
) -> tuple[int, int]:
    """Insert once per request_id; (this call's fee, provider total recorded)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO usage (request_id, provider, user_id, chat_id, input_tokens,
                output_tokens, fee_neuron) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (request_id) DO NOTHING
            """,
            request_id,
            provider,
            user,
            chat_id,
            input_tokens,
            output_tokens,
            fee,
        )
        row = await conn.fetchrow(
            """
            SELECT (SELECT fee_neuron FROM usage WHERE request_id = $1) AS fee,
                   (SELECT coalesce(sum(fee_neuron), 0) FROM usage WHERE provider = $2) AS total
            """,
            request_id,
            provider,
        )
    assert row is not None
    return int(row["fee"]), int(row["total"])


async def recorded_fees(pool: asyncpg.Pool, provider: str) -> int:
    value = await pool.fetchval(
        "SELECT coalesce(sum(fee_neuron), 0) FROM usage WHERE provider = $1", provider
    )
    return int(value)


async def settled_fees(pool: asyncpg.Pool, provider: str) -> int:
    value = await pool.fetchval(
        """
        SELECT coalesce(-sum(delta_neuron), 0) FROM balance_events
        WHERE provider = $1 AND kind = 'settlement'
        """,
        provider,
    )
    return int(value)


async def record_top_up(
    pool: asyncpg.Pool,
    provider: str,
    locked_before: int,
    required: int,
    amount: int,
    tx_hash: str | None,
    error: str,
    started_at: datetime,
) -> None:
    await pool.execute(
        """
        INSERT INTO top_ups (provider, locked_before, required, amount_neuron, tx_hash, error,
            started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        provider,
        locked_before,
        required,
        amount,
        tx_hash,
        error,
        started_at,
    )


async def record_verification(
    pool: asyncpg.Pool,
    request_id: str,
    provider: str,
    chat_id: str,
    valid: bool,
    reason: str,
    signer: str,
) -> None:
    await pool.execute(
        """
        INSERT INTO verifications (request_id, provider, chat_id, valid, reason, signing_address)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING
        """,
        request_id,
        provider,
        chat_id,
        valid,
        reason,
        signer,
    )
