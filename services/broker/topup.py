"""Auto top-up of provider sub-accounts, the SDK's rule by default: required = unsettled +
min_balance (+ the next call's input fee); if locked < required, transfer
max(deficit, topup_amount). Never two top-ups of one sub-account at once: an asyncio lock
per provider inside a replica, a Postgres advisory lock across replicas."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from services.broker import store
from zerog_chain import AccountInfo, ChainError, ComputeContracts, ContractReverted, Receipt
from zerog_chain.errors import TransactionFailed
from zerog_signing import keccak256


@dataclass(frozen=True, slots=True)
class TopUpResult:
    """A transfer made (or attempted) to keep a sub-account funded."""

    amount: int
    receipt: Receipt | None
    error: str


def _lock_key(provider: str) -> int:
    return int.from_bytes(
        keccak256(b"broker.topup:" + provider.lower().encode())[:8], "big", signed=True
    )


class TopUps:
    """Keeps sub-accounts above their floor."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        compute: ComputeContracts,
        *,
        min_balance: int,
        topup_amount: int,
    ) -> None:
        self._pool = pool
        self._compute = compute
        self.min_balance = min_balance
        self.topup_amount = topup_amount
        self._locks: dict[str, asyncio.Lock] = {}

    async def unsettled(self, provider: str) -> int:
        """What we owe the provider and it has not settled yet (our records, chain events)."""
        recorded = await store.recorded_fees(self._pool, provider)
        settled = await store.settled_fees(self._pool, provider)
        return max(recorded - settled, 0)

    def required(self, unsettled: int, next_input_fee: int) -> int:
        """What the sub-account must hold."""
        return unsettled + self.min_balance + next_input_fee

    async def ensure(
        self, provider: str, *, next_input_fee: int = 0, request_id: str = ""
    ) -> TopUpResult | None:
        """Top the provider's sub-account up if it is below the floor; None if it was not."""
        account = await self._compute.get_account(provider)
        unsettled = await self.unsettled(provider)
        if account is not None and account.locked >= self.required(unsettled, next_input_fee):
            return None
        lock = self._locks.setdefault(provider.lower(), asyncio.Lock())
        async with lock, self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(provider))
            # Re-read under the lock: whoever held it may have topped up already.
            account = await self._compute.get_account(provider)
            unsettled = await self.unsettled(provider)
            return await self._transfer(provider, account, unsettled, next_input_fee, request_id)

    async def _transfer(
        self,
        provider: str,
        account: AccountInfo | None,
        unsettled: int,
        next_input_fee: int,
        request_id: str,
    ) -> TopUpResult | None:
        required = self.required(unsettled, next_input_fee)
        locked = account.locked if account is not None else 0
        if account is not None and locked >= required:
            return None
        amount = max(required - locked, self.topup_amount)
        started = datetime.now(UTC)
        try:
            receipt = await self._compute.transfer(
                provider,
                amount,
                request_id=request_id or f"topup:{started.timestamp()}",
                purpose="TOP_UP",
            )
        except (ContractReverted, TransactionFailed) as error:
            name = error.name if isinstance(error, ContractReverted) else str(error)
            await store.record_top_up(
                self._pool, provider, locked, required, amount, None, name, started
            )
            raise
        except ChainError as error:
            await store.record_top_up(
                self._pool, provider, locked, required, amount, None, type(error).__name__, started
            )
            raise
        await store.record_top_up(
            self._pool, provider, locked, required, amount, receipt.tx_hash, "", started
        )
        return TopUpResult(amount, receipt, "")
