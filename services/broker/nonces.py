"""Nonces shared by broker replicas sending from one wallet: a Postgres advisory lock spans
nonce choice, signing and broadcast, and the highest nonce in broker.transactions is the floor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from services.broker import transactions
from zerog_chain import TxRecord
from zerog_signing import keccak256


def _lock_key(sender: str) -> int:
    return int.from_bytes(
        keccak256(b"broker.nonce:" + sender.lower().encode())[:8], "big", signed=True
    )


class PgNonceGuard:
    """zerog_chain's NonceGuard on the broker's database."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def hold(self, sender: str) -> AsyncIterator[int | None]:
        """Hold the wallet's lock until the block ends; yields the highest nonce used so far."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(sender))
            # A transaction that never left (status failed, never mined) consumed no nonce.
            last = await conn.fetchval(
                """
                SELECT max(nonce) FROM transactions
                WHERE sender = $1 AND (status <> 'failed' OR block_number > 0)
                """,
                sender,
            )
            yield None if last is None else int(last)

    async def recorded_from(self, sender: str, nonce: int) -> Sequence[TxRecord]:
        """The records behind that highest nonce, from `nonce` up."""
        return await transactions.recorded_from(self._pool, sender, nonce)
