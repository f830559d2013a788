"""The wallet users of the signed flows (broker.user_accounts), their deposits and charges, and
the providers we acknowledged (broker.acknowledgements)."""

from __future__ import annotations

import asyncpg

from services.broker.deposits import Deposit
from services.broker.errors import AccountNotFound, DepositAlreadyCredited, UsageAlreadyCharged
from services.broker.verification import Acknowledged
from zerog_db import Connection, Executor


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


async def credit_deposit(
    conn: Connection, deposit: Deposit, caller: str, request_id: str
) -> asyncpg.Record:
    """Credit the user's deposit once ever (DepositAlreadyCredited if its transaction was); the
    account after. Run it in the transaction that spends the intent's nonce."""
    try:
        await conn.execute(
            "INSERT INTO user_deposits (tx_hash, address, amount_neuron, block_number, caller,"
            " request_id) VALUES ($1, $2, $3, $4, $5, $6)",
            deposit.tx_hash.lower(),
            deposit.sender,
            deposit.amount,
            deposit.block_number,
            caller,
            request_id,
        )
    except asyncpg.UniqueViolationError:
        raise DepositAlreadyCredited(deposit.tx_hash) from None
    row = await conn.fetchrow(
        "UPDATE user_accounts SET funded_neuron = funded_neuron + $2 WHERE address = $1"
        " RETURNING *",
        deposit.sender,
        deposit.amount,
    )
    assert row is not None  # the deposit's foreign key found the account
    return row


async def charge(
    conn: Connection, address: str, fee: int, caller: str, request_id: str, usage_id: str
) -> tuple[asyncpg.Record, int]:
    """Debit `fee`, or the whole balance when it is smaller (never below zero), and record the
    charge once per (caller, usage_id) (UsageAlreadyCharged); (the account after, the amount
    debited)."""
    # FOR UPDATE: two charges of one account queue here instead of both reading one balance.
    row = await conn.fetchrow(
        "SELECT funded_neuron - spent_neuron AS balance FROM user_accounts"
        " WHERE address = $1 FOR UPDATE",
        address,
    )
    if row is None:
        raise AccountNotFound(f"no account for {address}; call InitAccount")
    charged = min(fee, int(row["balance"]))
    try:
        await conn.execute(
            "INSERT INTO user_charges (caller, request_id, usage_id, address, fee_neuron,"
            " charged_neuron) VALUES ($1, $2, $3, $4, $5, $6)",
            caller,
            request_id,
            usage_id,
            address,
            fee,
            charged,
        )
    except asyncpg.UniqueViolationError:
        raise UsageAlreadyCharged(usage_id) from None
    after = await conn.fetchrow(
        "UPDATE user_accounts SET spent_neuron = spent_neuron + $2 WHERE address = $1 RETURNING *",
        address,
        charged,
    )
    assert after is not None
    return after, charged


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
