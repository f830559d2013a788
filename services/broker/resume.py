"""Resuming transactions whose answer was lost (a timeout, a crash, a broken connection): before
a new one is signed, each earlier one that may still land is waited for (and sent again byte
for byte if the node lost it), so a lost answer never makes a second payment. Requests resume by
their request_id; the automatic transfers (top-ups, ledger refills), whose every attempt has
its own id, by their prefix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from services.broker.store import transactions
from zerog_chain import Receipt, TransactionFailed, TxSender


async def send_once(
    pool: asyncpg.Pool,
    sender: TxSender,
    purpose: str,
    request_id: str,
    send: Callable[[], Awaitable[Receipt]],
) -> Receipt:
    """The outcome of the transaction already signed for `request_id` if one was, else of a
    new one sent by `send`."""
    earlier = await transactions.request_transactions(pool, request_id, purpose)
    resumed = await sender.resume(earlier)
    return resumed if resumed is not None else await send()


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
