"""Settlement reconciliation: read our sub-accounts' BalanceUpdated events from the chain and
classify each balance change (our transfer, a provider's settlement, a refund); the report
compares what we recorded with what providers settled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from eth_utils.address import to_checksum_address

from services.broker.store import settlement
from zerog_chain import ChainError, ComputeContracts
from zerog_db import Connection
from zerog_signing import keccak256

log = logging.getLogger("services.broker")
BALANCE_UPDATED = keccak256(b"BalanceUpdated(address,address,uint256,uint256)")
TEE_SETTLEMENT_RESULT = keccak256(b"TEESettlementResult(address,uint8,uint256)")
_BATCH_BLOCKS = 5_000


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


class SettlementWatcher:
    """Follows the chain from a cursor stored in broker.event_cursor.

    Only blocks at least `confirmations` below the latest are read: the cursor never goes
    back, so an event read from a block that a reorg later replaces would stay counted (a
    settlement that never happened, or one counted twice once its transaction lands again).
    """

    def __init__(
        self, pool: asyncpg.Pool, compute: ComputeContracts, confirmations: int = 0
    ) -> None:
        self._pool = pool
        self._compute = compute
        self._w3 = compute.sender.w3
        self._confirmations = confirmations
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def sync(self) -> int:
        """Read new events from confirmed blocks; returns the last block read so far."""
        async with self._lock:
            confirmed = int(await self._w3.eth.block_number) - self._confirmations
            start = await settlement.next_block(self._pool)
            while start <= confirmed:
                end = min(start + _BATCH_BLOCKS - 1, confirmed)
                await self._read(start, end)
                start = end + 1
            return max(start - 1, 0)

    async def _read(self, start: int, end: int) -> None:
        user = _topic(self._compute.user)
        inference = self._compute.inference.address
        logs: list[Any] = await self._w3.eth.get_logs(
            {
                "address": inference,
                "fromBlock": start,
                "toBlock": end,
                "topics": [
                    ["0x" + BALANCE_UPDATED.hex(), "0x" + TEE_SETTLEMENT_RESULT.hex()],
                    user,
                ],
            }
        )
        settling = {
            bytes(e["transactionHash"])
            for e in logs
            if bytes(e["topics"][0]) == TEE_SETTLEMENT_RESULT
        }
        async with self._pool.acquire() as conn, conn.transaction():
            for entry in logs:
                if bytes(entry["topics"][0]) != BALANCE_UPDATED:
                    continue
                await self._balance_event(conn, entry, bytes(entry["transactionHash"]) in settling)
            await settlement.read_up_to(conn, end)

    async def _balance_event(self, conn: Connection, entry: Any, settled: bool) -> None:
        provider = to_checksum_address("0x" + bytes(entry["topics"][2])[-20:].hex())
        data = bytes(entry["data"])
        balance = int.from_bytes(data[:32], "big")
        delta = balance - await settlement.last_balance(conn, provider)
        if settled:
            kind = "settlement"
        elif delta > 0:
            kind = "transfer"
        elif delta < 0:
            kind = "refund"
        else:
            kind = "other"
        await settlement.record_balance_event(
            conn,
            (int(entry["blockNumber"]), int(entry["logIndex"])),
            "0x" + bytes(entry["transactionHash"]).hex(),
            provider,
            balance,
            delta,
            kind,
        )

    async def report(self, provider: str) -> list[asyncpg.Record]:
        """Per provider: recorded fees and calls, settled fees and count, transfers."""
        return await settlement.report(self._pool, provider)

    def start(self, interval: float) -> None:
        """Sync every `interval` seconds in the background."""
        self._task = asyncio.create_task(self._loop(interval))

    async def _loop(self, interval: float) -> None:
        while True:
            try:
                await self.sync()
            except (ChainError, OSError) as error:
                log.warning("settlement sync failed", extra={"error": type(error).__name__})
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        """Stop the background sync."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
