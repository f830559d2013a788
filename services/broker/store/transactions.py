"""The broker.transactions table: zerog_chain's recorder and nonce-guard hooks and the queries
over what was sent (replicas share one wallet; a retry resumes what its request signed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.broker.store import locks
from zerog_chain import TxRecord

# A transaction that never left (status failed, never mined) consumed no nonce.
_HOLDS_NONCE = "(status <> 'failed' OR block_number > 0)"
# Transactions that may still land: pending ones, and those marked 'not sent' because the node
# did not know them when a later send reused their nonce (a lost broadcast can still arrive).
_OPEN = "(status = 'pending' OR (status = 'failed' AND block_number = 0 AND error = 'not sent'))"


class PgRecorder:
    """zerog_chain's recorder hook: every transaction lands in broker.transactions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, tx: TxRecord) -> None:
        await self._pool.execute(
            """
            INSERT INTO transactions (tx_hash, purpose, request_id, sender, to_address, nonce,
                value_neuron, gas_limit, gas_used, effective_gas_price, block_number, status, error,
                raw_tx)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
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
            tx.raw or None,
        )


class PgNonceGuard:
    """zerog_chain's NonceGuard: a Postgres advisory lock spans nonce choice, signing and
    broadcast, and the highest nonce recorded is the floor."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def hold(self, sender: str) -> AsyncIterator[int | None]:
        """Hold the wallet's lock until the block ends; yields the highest nonce used so far."""
        async with self._pool.acquire() as conn, conn.transaction():
            await locks.hold(conn, locks.key_of("broker.nonce", sender))
            last = await conn.fetchval(
                f"SELECT max(nonce) FROM transactions WHERE sender = $1 AND {_HOLDS_NONCE}",
                sender,
            )
            yield None if last is None else int(last)

    async def recorded_from(self, sender: str, nonce: int) -> Sequence[TxRecord]:
        """The sender's transactions from `nonce` up that hold their nonce, lowest first."""
        rows = await self._pool.fetch(
            f"""
            SELECT * FROM transactions WHERE sender = $1 AND nonce >= $2 AND {_HOLDS_NONCE}
            ORDER BY nonce
            """,
            sender,
            nonce,
        )
        return [_tx_record(row) for row in rows]


def _tx_record(row: asyncpg.Record) -> TxRecord:
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
        error=row["error"],
        raw=bytes(row["raw_tx"] or b""),
    )


async def request_transactions(pool: asyncpg.Pool, request_id: str, purpose: str) -> list[TxRecord]:
    """What earlier attempts of `request_id` signed for `purpose` and is mined or may still be,
    newest first."""
    rows = await pool.fetch(
        f"""
        SELECT * FROM transactions WHERE request_id = $1 AND purpose = $2
            AND (status = 'succeeded' OR {_OPEN}) ORDER BY created_at DESC
        """,
        request_id,
        purpose,
    )
    return [_tx_record(row) for row in rows]


async def open_transactions(
    pool: asyncpg.Pool, purpose: str, request_prefix: str
) -> list[TxRecord]:
    """Transactions of `purpose` whose request_id starts with the prefix and that may still
    land, oldest first."""
    rows = await pool.fetch(
        f"""
        SELECT * FROM transactions WHERE purpose = $1 AND starts_with(request_id, $2)
            AND {_OPEN} ORDER BY created_at
        """,
        purpose,
        request_prefix,
    )
    return [_tx_record(row) for row in rows]


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
