"""The automatic transfers' records: top-ups of provider sub-accounts and ledger refills, with
the figures that justified each."""

from __future__ import annotations

from datetime import datetime

import asyncpg


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


async def finish_resumed(pool: asyncpg.Pool, table: str, tx_hash: str, error: str) -> None:
    """A resumed transfer's outcome replaces the error its first attempt recorded."""
    assert table in ("top_ups", "ledger_refills")
    await pool.execute(
        f"UPDATE {table} SET error = $2, finished_at = clock_timestamp() WHERE tx_hash = $1",
        tx_hash,
        error,
    )
