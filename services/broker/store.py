"""Every SQL statement of the broker. Functions take the pool (or a connection) first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.broker.verification import Acknowledged
from zerog_db import Connection


async def record_acknowledgement(
    pool: asyncpg.Pool, provider: str, tee_signer: str, response_signer: str
) -> None:
    await pool.execute(
        """
        INSERT INTO acknowledgements (provider, tee_signer, response_signer) VALUES ($1, $2, $3)
        ON CONFLICT (provider) DO UPDATE
            SET tee_signer = $2, response_signer = $3, acknowledged_at = now()
        """,
        provider,
        tee_signer,
        response_signer,
    )


async def get_acknowledgement(pool: asyncpg.Pool, provider: str) -> Acknowledged | None:
    row = await pool.fetchrow(
        "SELECT tee_signer, response_signer FROM acknowledgements WHERE provider = $1", provider
    )
    if row is None:
        return None
    # A row written before response_signer existed: responses recover to the TEE signer.
    return Acknowledged(row["tee_signer"], row["response_signer"] or row["tee_signer"])


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
    caller: str,
    request_id: str,
    provider: str,
    user: str,
    chat_id: str,
    input_tokens: int,
    output_tokens: int,
    fee: int,
) -> tuple[int, int]:
    """Insert once per (calling service, request_id); (this call's fee, provider total)."""
    # One statement, so one round trip and atomic without a transaction: the total moves only
    # when the usage row is new.
    row = await pool.fetchrow(
        """
        WITH inserted AS (
            INSERT INTO usage (request_id, provider, user_id, chat_id, input_tokens,
                output_tokens, fee_neuron, caller) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (caller, request_id) DO NOTHING RETURNING fee_neuron
        ), total AS (
            INSERT INTO usage_totals (provider, total_neuron)
            SELECT $2, fee_neuron FROM inserted
            ON CONFLICT (provider) DO UPDATE
                SET total_neuron = usage_totals.total_neuron + EXCLUDED.total_neuron
            RETURNING total_neuron
        )
        SELECT (SELECT fee_neuron FROM inserted) AS fee, (SELECT total_neuron FROM total) AS total
        """,
        request_id,
        provider,
        user,
        chat_id,
        input_tokens,
        output_tokens,
        fee,
        caller,
    )
    assert row is not None
    if row["fee"] is not None:
        return int(row["fee"]), int(row["total"])
    # Recorded before (a retry): what was recorded then, and the total now.
    row = await pool.fetchrow(
        """
        SELECT (SELECT fee_neuron FROM usage WHERE caller = $3 AND request_id = $1) AS fee,
               (SELECT coalesce(total_neuron, 0) FROM usage_totals WHERE provider = $2)
                   AS total
        """,
        request_id,
        provider,
        caller,
    )
    assert row is not None
    return int(row["fee"]), int(row["total"] or 0)


async def recorded_fees(pool: asyncpg.Pool, provider: str) -> int:
    value = await pool.fetchval(
        "SELECT coalesce(sum(total_neuron), 0) FROM usage_totals WHERE provider = $1", provider
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
    unsettled: tuple[int, str] = (0, "local"),
    cap: int | None = None,
) -> None:
    await pool.execute(
        """
        INSERT INTO top_ups (provider, locked_before, required, amount_neuron, tx_hash, error,
            started_at, unsettled_neuron, unsettled_source, cap_neuron)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        provider,
        locked_before,
        required,
        amount,
        tx_hash,
        error,
        started_at,
        unsettled[0],
        unsettled[1],
        cap,
    )


async def recent_usage(pool: asyncpg.Pool, provider: str, hours: int) -> int:
    """Fees recorded for the provider in the last `hours` hours."""
    value = await pool.fetchval(
        """
        SELECT coalesce(sum(fee_neuron), 0) FROM usage
        WHERE provider = $1 AND created_at > now() - make_interval(hours => $2)
        """,
        provider,
        hours,
    )
    return int(value)


async def finish_resumed(pool: asyncpg.Pool, table: str, tx_hash: str, error: str) -> None:
    """A resumed transfer's outcome replaces the error its first attempt recorded."""
    assert table in ("top_ups", "ledger_refills")
    await pool.execute(
        f"UPDATE {table} SET error = $2, finished_at = clock_timestamp() WHERE tx_hash = $1",
        tx_hash,
        error,
    )


async def record_refill(
    pool: asyncpg.Pool,
    available_before: int,
    floor: int,
    amount: int,
    tx_hash: str | None,
    error: str,
    started_at: datetime,
) -> None:
    await pool.execute(
        """
        INSERT INTO ledger_refills (available_before, floor_neuron, amount_neuron, tx_hash,
            error, started_at) VALUES ($1, $2, $3, $4, $5, $6)
        """,
        available_before,
        floor,
        amount,
        tx_hash,
        error,
        started_at,
    )


def verification_insert(
    caller: str,
    request_id: str,
    provider: str,
    chat_id: str,
    valid: bool,
    reason: str,
    signer: str,
) -> tuple[str, tuple[object, ...]]:
    """The verification record, as a statement to run with the stored answer ($4 onwards)."""
    return (
        "INSERT INTO verifications (caller, request_id, provider, chat_id, valid, reason,"
        " signing_address) VALUES ($4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (caller, request_id) DO NOTHING",
        (caller, request_id, provider, chat_id, valid, reason, signer),
    )
