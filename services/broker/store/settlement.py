"""Settlement records: sub-account balance changes read from BalanceUpdated events, the cursor
of the chain read so far, and the report comparing what we recorded with what was settled."""

from __future__ import annotations

import asyncpg

from zerog_db import Connection


async def next_block(pool: asyncpg.Pool) -> int:
    """The first block not read yet."""
    return int(await pool.fetchval("SELECT next_block FROM event_cursor") or 0)


async def read_up_to(conn: Connection, end: int) -> None:
    """Blocks up to `end` are read."""
    await conn.execute(
        """
        INSERT INTO event_cursor (next_block) VALUES ($1)
        ON CONFLICT (id) DO UPDATE SET next_block = $1
        """,
        end + 1,
    )


async def last_balance(conn: Connection, provider: str) -> int:
    """The provider's sub-account balance as the last event recorded showed it (0: none)."""
    value = await conn.fetchval(
        """
        SELECT balance_neuron FROM balance_events WHERE provider = $1
        ORDER BY block_number DESC, log_index DESC LIMIT 1
        """,
        provider,
    )
    return int(value or 0)


async def record_balance_event(
    conn: Connection,
    position: tuple[int, int],
    tx_hash: str,
    provider: str,
    balance: int,
    delta: int,
    kind: str,
) -> None:
    """One BalanceUpdated event at (block, log index); an event read twice is kept once."""
    await conn.execute(
        """
        INSERT INTO balance_events (block_number, log_index, tx_hash, provider,
            balance_neuron, delta_neuron, kind) VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING
        """,
        *position,
        tx_hash,
        provider,
        balance,
        delta,
        kind,
    )


async def report(pool: asyncpg.Pool, provider: str) -> list[asyncpg.Record]:
    """Per provider ('' for all): recorded fees and calls, settled fees and count, transfers."""
    return await pool.fetch(
        """
        WITH providers AS (
            SELECT provider FROM usage UNION SELECT provider FROM balance_events
        )
        SELECT p.provider,
            coalesce((SELECT sum(fee_neuron) FROM usage u WHERE u.provider = p.provider), 0)
                AS recorded,
            (SELECT count(*) FROM usage u WHERE u.provider = p.provider) AS calls,
            coalesce((SELECT -sum(delta_neuron) FROM balance_events b
                WHERE b.provider = p.provider AND kind = 'settlement'), 0) AS settled,
            (SELECT count(*) FROM balance_events b
                WHERE b.provider = p.provider AND kind = 'settlement') AS settlements,
            coalesce((SELECT sum(delta_neuron) FROM balance_events b
                WHERE b.provider = p.provider AND kind = 'transfer'), 0) AS transferred
        FROM providers p WHERE $1 = '' OR lower(p.provider) = lower($1)
        ORDER BY p.provider
        """,
        provider,
    )
