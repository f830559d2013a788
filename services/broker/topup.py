"""Auto top-up of provider sub-accounts, the SDK's rule by default: required = unsettled +
min_balance (+ the next call's input fee); if locked < required, transfer
max(deficit, topup_amount). The unsettled figure is the provider's own, so each transfer is
capped (TOPUP_MAX_NEURON, else derived from our recent usage with the provider): above the cap
nothing is sent, the refusal is recorded, logged and counted. Never two top-ups of one
sub-account at once: an asyncio lock per provider inside a replica, a Postgres advisory lock
across replicas. A top-up whose receipt timed out is resumed (waited for) by the next attempt,
never sent twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from services.broker.errors import TopUpAboveCap
from services.broker.headroom import Headroom
from services.broker.refill import LedgerRefill
from services.broker.resume import resume_pending
from services.broker.store import locks, transactions, transfers, usage
from services.broker.unsettled import Owed, UnsettledFees
from zerog_chain import (
    AccountInfo,
    ChainError,
    ComputeContracts,
    ContractReverted,
    Receipt,
    ReceiptTimeout,
)
from zerog_grpc import utc_now

PURPOSE = "TOP_UP"
# The derived cap: this many times the provider's usage recorded in the last USAGE_HOURS. A
# deficit is what was used since the last top-up (locked funds already cover what was owed
# then), so an honest figure stays well inside it.
USAGE_MULTIPLE = 2
USAGE_HOURS = 24

log = logging.getLogger("services.broker")


@dataclass(frozen=True, slots=True)
class TopUpResult:
    """A transfer made (or attempted) to keep a sub-account funded."""

    amount: int
    receipt: Receipt | None
    error: str


def _request_prefix(provider: str) -> str:
    return f"topup:{provider.lower()}:"


class TopUps:
    """Keeps sub-accounts above their floor."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        compute: ComputeContracts,
        unsettled: UnsettledFees,
        refill: LedgerRefill,
        *,
        min_balance: int,
        topup_amount: int,
        max_amount: int = 0,
        check_seconds: float = 2.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._pool = pool
        self._compute = compute
        self._unsettled = unsettled
        self._refill = refill
        self.min_balance = min_balance
        self.topup_amount = topup_amount
        self.max_amount = max_amount
        self.refused = Counter(
            "zerog_broker_topups_refused_total",
            "Automatic top-ups refused (nothing sent), by provider and reason",
            ["provider", "reason"],
            registry=(registry := registry or CollectorRegistry()),
        )
        self.sent = Counter(
            "zerog_broker_topups_total", "Automatic top-ups sent", registry=registry
        )
        self.sent_neuron = Counter(
            "zerog_broker_topup_neuron_total",
            "Neuron moved by automatic top-ups",
            registry=registry,
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self.headroom = Headroom(check_seconds)

    def required(self, unsettled: int, next_input_fee: int) -> int:
        """What the sub-account must hold."""
        return unsettled + self.min_balance + next_input_fee

    async def cap(self, provider: str, next_input_fee: int) -> int:
        """The most one top-up of the provider's sub-account may move now."""
        if self.max_amount:
            return self.max_amount
        recent = await usage.recent_usage(self._pool, provider, USAGE_HOURS)
        floor = self.min_balance + self.topup_amount
        return max(floor, USAGE_MULTIPLE * recent) + next_input_fee

    def fast(self, provider: str, next_input_fee: int = 0) -> AccountInfo | None:
        """The sub-account as last checked when no check is due (no I/O), else None."""
        return self.headroom.fresh(provider, next_input_fee)

    async def ensure(self, provider: str, *, next_input_fee: int = 0) -> TopUpResult | None:
        """Top the provider's sub-account up if it is below the floor; None if it was not."""
        spent_before, epoch = self.headroom.spent(provider), self.headroom.epoch(provider)
        try:
            account = await self._compute.get_account(provider)
            owed = await self._unsettled.owed(provider, account)
            enough = account is not None and account.locked >= self.required(
                owed.amount, next_input_fee
            )
            # A transfer still pending (its receipt timed out) is settled first, even if it
            # landed.
            if enough and account is not None and not await self._pending(provider):
                if account.acknowledged:  # the fast path also stands for the acknowledgement
                    spare = account.locked - self.required(owed.amount, 0)
                    self.headroom.checked(provider, account, spare, spent_before, epoch)
                return None
        except BaseException:
            self.headroom.forget(provider)
            raise
        self.headroom.forget(provider)
        lock = self._locks.setdefault(provider.lower(), asyncio.Lock())
        async with lock, self._pool.acquire() as conn, conn.transaction():
            await locks.hold(conn, locks.key_of("broker.topup", provider))
            resumed = await resume_pending(
                self._pool, self._compute.sender, PURPOSE, _request_prefix(provider)
            )
            if resumed is not None:
                await transfers.finish_resumed(self._pool, "top_ups", resumed.tx_hash, "")
            # Re-read under the lock: whoever held it (or the resumed transfer) may have topped
            # up already.
            account = await self._compute.get_account(provider)
            owed = await self._unsettled.owed(provider, account)
            done = await self._transfer(provider, account, owed, next_input_fee)
            if done is None and resumed is not None:
                return TopUpResult(resumed.record.value if resumed.record else 0, resumed, "")
            return done

    async def _pending(self, provider: str) -> bool:
        return bool(
            await transactions.open_transactions(self._pool, PURPOSE, _request_prefix(provider))
        )

    async def _transfer(
        self, provider: str, account: AccountInfo | None, owed: Owed, next_input_fee: int
    ) -> TopUpResult | None:
        required = self.required(owed.amount, next_input_fee)
        locked = account.locked if account is not None else 0
        if account is not None and locked >= required:
            return None
        amount = max(required - locked, self.topup_amount)
        started = utc_now()
        cap = await self.cap(provider, next_input_fee)

        async def record(tx_hash: str | None, error: str) -> None:
            await transfers.record_top_up(
                self._pool,
                provider,
                locked,
                required,
                amount,
                tx_hash,
                error,
                started,
                (owed.amount, owed.source),
                cap,
            )

        if amount > cap:
            await record(None, TopUpAboveCap.name)
            self.refused.labels(provider, TopUpAboveCap.name).inc()
            log.warning(
                "top-up above the cap refused",
                extra={
                    "provider": provider,
                    "amount_neuron": str(amount),
                    "cap_neuron": str(cap),
                    "unsettled_neuron": str(owed.amount),
                    "unsettled_source": owed.source,
                },
            )
            raise TopUpAboveCap(provider, amount, cap)
        await self._refill.ensure()
        try:
            receipt = await self._compute.transfer(
                provider,
                amount,
                request_id=f"{_request_prefix(provider)}{uuid.uuid4()}",
                purpose=PURPOSE,
            )
        except ChainError as error:
            name = error.name if isinstance(error, ContractReverted) else type(error).__name__
            # A timed-out transfer keeps its hash: the next attempt waits for it.
            await record(error.tx_hash if isinstance(error, ReceiptTimeout) else None, name)
            raise
        await record(receipt.tx_hash, "")
        self.sent.inc()
        self.sent_neuron.inc(amount)
        await self._refill.ensure()
        return TopUpResult(amount, receipt, "")
