"""Resuming the automatic transfers (top-ups, ledger refills), whose every attempt has its own
request id: before a new one is sent, each earlier one that may still land is waited for (and
sent again byte for byte if the node lost it), so a lost answer never makes a second transfer."""

from __future__ import annotations

import asyncpg

from services.broker import transactions
from zerog_chain import Receipt, TransactionFailed, TxSender


async def resume_pending(
    pool: asyncpg.Pool, sender: TxSender, purpose: str, request_prefix: str
) -> Receipt | None:
    """The receipt of the last earlier transfer that landed, or None if none did (each was
    dropped, never sent, or reverted). Raises ReceiptTimeout if one may still land."""
    landed: Receipt | None = None
    for record in await transactions.open_transactions(pool, purpose, request_prefix):
        try:
            receipt = await sender.resume([record])
        except TransactionFailed:
            continue
        if receipt is not None:
            landed = receipt
    return landed
