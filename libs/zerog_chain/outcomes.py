"""What became of a signed transaction: its receipt, recorded with the revert that failed it, and
the resumption of a request whose earlier attempt already signed (and maybe sent) one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import replace
from typing import Any, cast

from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import TxParams

from zerog_chain.errors import ContractReverted, ReceiptTimeout, TransactionFailed
from zerog_chain.node import (
    find_receipt,
    node_knows,
    reaching_the_node,
    reverted,
    transaction_count,
)
from zerog_chain.records import Receipt, TxRecord, TxRecorder

log = logging.getLogger("zerog_chain")


class Outcomes:
    """Follows one wallet's signed transactions to their outcome and records it."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        address: str,
        recorder: TxRecorder,
        broadcast_lock: asyncio.Lock,
        *,
        receipt_timeout: float,
        poll_interval: float,
    ) -> None:
        self._w3 = w3
        self._address = address
        self._recorder = recorder
        # The sender's nonce lock: a rebroadcast never interleaves with a send.
        self._broadcast_lock = broadcast_lock
        self._receipt_timeout = receipt_timeout
        self._poll = poll_interval

    async def resume(self, records: Sequence[TxRecord]) -> Receipt | None:
        """The outcome of a request an earlier attempt already signed `records` for (newest
        first): the receipt of the one that was mined, waiting for it (and broadcasting its
        signed bytes again if the node lost them) while it can still land. None only when
        none can land any more (its nonce is taken by another mined transaction, or it was
        never broadcast and the node does not know it), so the caller may sign anew.

        Raises TransactionFailed if it was mined and reverted, ReceiptTimeout while it may
        still land, ChainUnavailable."""
        if not records:
            return None
        # Read the mined count before looking for receipts: a nonce counted there and no
        # receipt for our hash afterwards proves another transaction took it.
        mined = await transaction_count(self._w3, self._address, "latest")
        for record in records:
            if await find_receipt(self._w3, record.tx_hash) is not None:
                return await self.wait(record)
        live: list[TxRecord] = []
        for record in records:
            if record.nonce < mined:
                await self._recorder.record(replace(record, status="failed", error="dropped"))
            else:
                live.append(record)
        for record in live:
            if record.raw:
                await self._rebroadcast(record)
                return await self.wait(record)
            if await node_knows(self._w3, record.tx_hash):
                return await self.wait(record)
        # Recorded but never broadcast, and no bytes to send again: whatever is sent next
        # from this wallet reuses the lowest such nonce (the guard sees to it), so at most
        # one transaction of that nonce can ever be mined.
        return None

    async def _rebroadcast(self, record: TxRecord) -> None:
        async with self._broadcast_lock:
            # Refused means already known, or its nonce was taken meanwhile: the wait tells which.
            with reaching_the_node(), suppress(Web3RPCError):
                await self._w3.eth.send_raw_transaction(record.raw)
            if record.status != "pending":
                await self._recorder.record(replace(record, status="pending", error=""))

    async def wait(self, record: TxRecord) -> Receipt:
        """Wait for the receipt of a sent transaction and record the outcome."""
        with reaching_the_node():
            try:
                receipt = await self._w3.eth.wait_for_transaction_receipt(
                    record.tx_hash,  # type: ignore[arg-type]
                    timeout=self._receipt_timeout,
                    poll_latency=self._poll,
                )
            except TimeExhausted:
                raise ReceiptTimeout(record.tx_hash, self._receipt_timeout) from None
        done = replace(
            record,
            gas_used=int(receipt["gasUsed"]),
            block_number=int(receipt["blockNumber"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
        )
        if receipt["status"] != 1:
            reason = await self._replay_reason(record, int(receipt["blockNumber"]))
            await self._recorder.record(
                replace(done, status="failed", error=reason.name if reason else "reverted")
            )
            raise TransactionFailed(record.tx_hash, reason)
        done = replace(done, status="succeeded")
        await self._recorder.record(done)
        return Receipt(
            record.tx_hash,
            done.block_number,
            done.gas_used,
            done.effective_gas_price,
            tuple(receipt["logs"]),
            done,
        )

    async def _replay_reason(self, record: TxRecord, block: int) -> ContractReverted | None:
        tx = await self._w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        try:
            params = {"from": record.sender, "to": record.to, "data": tx["input"]}
            await self._w3.eth.call(cast(TxParams, {**params, "value": record.value}), block - 1)
        except ContractLogicError as error:
            return reverted(error)
        except Exception:
            log.warning("cannot replay a failed transaction", extra={"tx": record.tx_hash})
        return None
