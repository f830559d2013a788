"""Ledger refill: when the ledger's available balance is below LEDGER_MIN_BALANCE_NEURON,
deposit LEDGER_REFILL_NEURON from the wallet. Never two refills at once (an asyncio lock in a
replica, a Postgres advisory lock across replicas); every refill recorded in ledger_refills."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import KW_ONLY, dataclass, field

import asyncpg

from services.broker.resume import resume_pending
from services.broker.store import locks, transfers
from zerog_chain import ChainError, ComputeContracts, Receipt, ReceiptTimeout
from zerog_grpc import utc_now

log = logging.getLogger("services.broker")
PURPOSE = "LEDGER_REFILL"
_REQUEST_PREFIX = "refill:"


@dataclass(frozen=True, slots=True)
class Refill:
    """A deposit made (or attempted) to bring the ledger back above its floor."""

    amount: int
    receipt: Receipt | None
    error: str


@dataclass
class LedgerRefill:
    """Keeps the ledger's available balance above a floor; off when floor or amount is 0."""

    pool: asyncpg.Pool
    compute: ComputeContracts
    _: KW_ONLY
    floor: int
    amount: int
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def enabled(self) -> bool:
        return self.floor > 0 and self.amount > 0

    async def ensure(self) -> Refill | None:
        """Refill if below the floor; None when nothing was needed. Failures are recorded and
        returned, never raised: a refill is a best effort before a transfer that may still fit."""
        if not self.enabled or not await self._below_floor():
            return None
        async with self._lock, self.pool.acquire() as conn, conn.transaction():
            await locks.hold_named(conn, "broker.ledger_refill")
            try:
                resumed = await resume_pending(
                    self.pool, self.compute.sender, PURPOSE, _REQUEST_PREFIX
                )
                if resumed is not None:
                    await transfers.finish_resumed(self.pool, "ledger_refills", resumed.tx_hash, "")
                # Re-read under the lock: whoever held it may have refilled already.
                ledger = await self.compute.get_ledger()
                if ledger is None or ledger.available >= self.floor:
                    return None
            except ChainError as error:
                return Refill(0, None, type(error).__name__)
            return await self._deposit(ledger.available)

    async def _below_floor(self) -> bool:
        try:
            ledger = await self.compute.get_ledger()
        except ChainError:
            return False
        # No ledger: nothing to refill (creating one is an explicit CreateLedger).
        return ledger is not None and ledger.available < self.floor

    async def _deposit(self, available: int) -> Refill:
        started = utc_now()
        try:
            receipt = await self.compute.deposit(
                self.amount, request_id=f"{_REQUEST_PREFIX}{uuid.uuid4()}", purpose=PURPOSE
            )
        except ChainError as error:
            name = str(getattr(error, "name", "")) or type(error).__name__
            tx_hash = error.tx_hash if isinstance(error, ReceiptTimeout) else None
            await transfers.record_refill(
                self.pool, available, self.floor, self.amount, tx_hash, name, started
            )
            log.warning("ledger refill failed", extra={"error": name})
            return Refill(self.amount, None, name)
        await transfers.record_refill(
            self.pool, available, self.floor, self.amount, receipt.tx_hash, "", started
        )
        return Refill(self.amount, receipt, "")
