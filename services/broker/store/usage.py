"""What we owe providers: the usage of each call (once per caller and request_id), the running
total per provider, and the verification record of each checked response."""

from __future__ import annotations

import asyncpg

from zerog_db import Alongside


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


async def unsettled_fees(pool: asyncpg.Pool, provider: str) -> int:
    """Fees recorded for the provider minus those its settlements took (never below 0)."""
    value = await pool.fetchval(
        """
        SELECT coalesce((SELECT sum(total_neuron) FROM usage_totals WHERE provider = $1), 0)
            - coalesce((SELECT -sum(delta_neuron) FROM balance_events
                WHERE provider = $1 AND kind = 'settlement'), 0)
        """,
        provider,
    )
    return max(int(value), 0)


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


def verification_insert(
    caller: str,
    request_id: str,
    provider: str,
    chat_id: str,
    valid: bool,
    reason: str,
    signer: str,
) -> Alongside:
    """The verification record, as a statement to run with the stored answer ($5 onwards)."""
    return (
        "INSERT INTO verifications (caller, request_id, provider, chat_id, valid, reason,"
        " signing_address) VALUES ($5, $6, $7, $8, $9, $10, $11)"
        " ON CONFLICT (caller, request_id) DO NOTHING",
        (caller, request_id, provider, chat_id, valid, reason, signer),
    )
