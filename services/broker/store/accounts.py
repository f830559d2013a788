"""The wallet users of the signed flows (broker.user_accounts) and the providers we
acknowledged (broker.acknowledgements)."""

from __future__ import annotations

import asyncpg

from services.broker.verification import Acknowledged
from zerog_db import Executor


async def open_account(db: Executor, address: str) -> tuple[asyncpg.Record, bool]:
    """The user's account, and whether this call created it."""
    row = await db.fetchrow(
        "INSERT INTO user_accounts (address) VALUES ($1) ON CONFLICT DO NOTHING RETURNING *",
        address,
    )
    if row is not None:
        return row, True
    row = await get_account(db, address)
    assert row is not None
    return row, False


async def get_account(db: Executor, address: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM user_accounts WHERE address = $1", address)


async def credit_account(pool: asyncpg.Pool, address: str, amount: int) -> asyncpg.Record | None:
    """Add a funded amount; the account after, None if there is none."""
    return await pool.fetchrow(
        "UPDATE user_accounts SET funded_neuron = funded_neuron + $2 WHERE address = $1"
        " RETURNING *",
        address,
        amount,
    )


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
