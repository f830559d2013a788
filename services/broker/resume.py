"""Resuming a transfer whose receipt did not arrive in time: wait for the recorded transaction
instead of sending a second one (and forget it if the node dropped it)."""

from __future__ import annotations

import logging
from dataclasses import replace

import asyncpg
from web3.exceptions import TransactionNotFound

from services.broker import transactions
from zerog_chain import Receipt, TransactionFailed, TxSender

log = logging.getLogger("services.broker")


async def resume_pending(
    pool: asyncpg.Pool, sender: TxSender, purpose: str, request_prefix: str
) -> Receipt | None:
    """The receipt of a still-pending earlier transaction, or None if there is none (or it
    was dropped, or reverted). Raises ReceiptTimeout if it is still not mined."""
    record = await transactions.pending_transaction(pool, purpose, request_prefix)
    if record is None:
        return None
    try:
        await sender.w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]  # hex str is accepted
    except TransactionNotFound:
        # Neither mined nor in the node's pool: it will never land, so its nonce is free.
        await sender.recorder.record(replace(record, status="failed", error="dropped"))
        log.warning("pending transaction dropped", extra={"tx": record.tx_hash})
        return None
    try:
        return await sender.wait(record)
    except TransactionFailed:
        return None
