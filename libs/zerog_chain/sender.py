"""The one place that sends transactions: nonces right under concurrency, gas with a margin,
receipts with a timeout, reverts decoded by name, and every transaction handed to a recorder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError
from web3.types import TxParams

from zerog_chain.errors import BroadcastUnconfirmed, ChainUnavailable
from zerog_chain.node import (
    already_known,
    contract_call,
    node_knows,
    reaching_the_node,
    rejection,
    reverted,
    transaction_count,
)
from zerog_chain.outcomes import Outcomes
from zerog_chain.records import NonceGuard, NoRecorder, Receipt, TxRecord, TxRecorder
from zerog_chain.wallet import Wallet
from zerog_signing import keccak256

log = logging.getLogger("zerog_chain")

# An estimate is made against the latest block, but the transaction lands in the next one, where
# a Flow epoch may close (~70-170k more gas, devnet/README.md): leave room for that.
GAS_MARGIN = 300_000


class TxSender:
    """Sends from one wallet. Concurrent sends get distinct, gapless nonces."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        wallet: Wallet,
        chain_id: int,
        *,
        recorder: TxRecorder | None = None,
        gas_margin: int = GAS_MARGIN,
        receipt_timeout: float = 60.0,
        poll_interval: float = 0.05,
        nonce_guard: NonceGuard | None = None,
    ) -> None:
        self.w3 = w3
        self.wallet = wallet
        self.chain_id = chain_id
        self.recorder: TxRecorder = recorder or NoRecorder()
        self._gas_margin = gas_margin
        self._lock = asyncio.Lock()
        self._next_nonce: int | None = None
        self._guard = nonce_guard
        self.outcomes = Outcomes(
            w3,
            wallet.address,
            self.recorder,
            self._lock,
            receipt_timeout=receipt_timeout,
            poll_interval=poll_interval,
        )

    async def call(self, to: str, data: bytes) -> bytes:
        """eth_call from the wallet; reverts raise ContractReverted."""
        with contract_call():
            params = {"from": self.wallet.address, "to": to, "data": data}
            result = await self.w3.eth.call(cast(TxParams, params))
        return bytes(result)

    async def _estimate(self, tx: dict[str, Any]) -> int:
        with contract_call():
            try:
                return int(await self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
            except Web3RPCError as error:
                raise rejection(error) from None

    async def send(
        self,
        to: str,
        data: bytes,
        *,
        purpose: str,
        request_id: str = "",
        value: int = 0,
        gas: int | None = None,
    ) -> Receipt:
        """Estimate, sign with the next nonce, send, wait for the receipt.

        Raises ContractReverted before sending when the estimate reverts (nothing is sent),
        TransactionFailed when it was mined and reverted, ReceiptTimeout, ChainUnavailable.
        """
        base = {"from": self.wallet.address, "to": to, "data": data, "value": value}
        limit = gas if gas is not None else await self._estimate(base) + self._gas_margin
        with reaching_the_node():
            gas_price = int(await self.w3.eth.gas_price)
        record = await self._sign_and_send(base, limit, gas_price, purpose, request_id)
        return await self.wait(record)

    async def wait(self, record: TxRecord) -> Receipt:
        """Wait for the receipt of a sent transaction and record the outcome."""
        return await self.outcomes.wait(record)

    async def resume(self, records: Sequence[TxRecord]) -> Receipt | None:
        """The receipt of what an earlier attempt signed `records` for, or None when none of
        them can land any more (see Outcomes.resume)."""
        return await self.outcomes.resume(records)

    async def _sign_and_send(
        self, base: dict[str, Any], limit: int, gas_price: int, purpose: str, request_id: str
    ) -> TxRecord:
        # One lock around nonce, sign and send: nonces leave in order, and a failed send
        # gives its nonce back by re-reading the pending count from the node. With a guard,
        # the lock spans every process sending from the wallet.
        async with self._lock:
            if self._guard is None:
                return await self._send_with_nonce(base, limit, gas_price, purpose, request_id)
            async with self._guard.hold(self.wallet.address) as last_recorded:
                self._next_nonce = await self._guarded_nonce(self._guard, last_recorded)
                return await self._send_with_nonce(base, limit, gas_price, purpose, request_id)

    async def _guarded_nonce(self, guard: NonceGuard, last_recorded: int | None) -> int:
        # A recorded nonce at or past the pending count is either lag (the node has it) or a
        # process that died between record and broadcast (it never left): taking the floor
        # then leaves a gap, and every later transaction of the wallet waits behind it.
        pending = await self._pending_count()
        if last_recorded is None or last_recorded < pending:
            return pending
        unsent: list[int] = []
        for record in await guard.recorded_from(self.wallet.address, pending):
            if record.status == "pending" and not await node_knows(self.w3, record.tx_hash):
                await self.recorder.record(replace(record, status="failed", error="not sent"))
                log.warning("recorded transaction never sent", extra={"tx": record.tx_hash})
                unsent.append(record.nonce)
        return min(unsent) if unsent else last_recorded + 1

    async def _pending_count(self) -> int:
        return await transaction_count(self.w3, self.wallet.address, "pending")

    async def _send_with_nonce(
        self, base: dict[str, Any], limit: int, gas_price: int, purpose: str, request_id: str
    ) -> TxRecord:
        """Sign with the next nonce, record, broadcast; the caller holds the nonce lock."""
        if self._next_nonce is None:
            self._next_nonce = await self._pending_count()
        nonce = self._next_nonce
        tx = {
            **base,
            "nonce": nonce,
            "gas": limit,
            "gasPrice": gas_price,
            "chainId": self.chain_id,
        }
        raw = self.wallet.sign_transaction(tx)
        record = TxRecord(
            tx_hash="0x" + keccak256(raw).hex(),
            purpose=purpose,
            request_id=request_id,
            sender=self.wallet.address,
            to=str(base["to"]),
            nonce=nonce,
            value=int(base["value"]),
            gas_limit=limit,
            raw=raw,
        )
        # Recorded before broadcast, signed bytes included: a crash after sending still leaves
        # the transaction behind, and a retry can send exactly it again.
        await self.recorder.record(record)
        try:
            await self.w3.eth.send_raw_transaction(raw)
        except Exception as error:
            self._next_nonce = None
            await self._after_failed_broadcast(record, error)
        except BaseException:
            # Cancelled mid-broadcast: the node may have it. The record stays pending and a
            # retry of the request resumes it.
            self._next_nonce = None
            raise
        self._next_nonce = nonce + 1
        return record

    async def _after_failed_broadcast(self, record: TxRecord, error: Exception) -> None:
        """Returns when the node holds the transaction after all; raises otherwise. Only an
        answer from the node that refuses it marks it failed: a lost answer (timeout, broken
        connection) leaves it pending, since the node may have taken it."""
        cause = reverted(error)
        if cause is not None:
            await self.recorder.record(replace(record, status="failed", error=cause.name))
            raise cause from None
        # Even a refusal is checked against the node: 'nonce too low' is also what a resend of
        # our own transaction, mined meanwhile, is told.
        try:
            if await node_knows(self.w3, record.tx_hash):
                return
        except ChainUnavailable:
            pass
        else:
            if isinstance(error, Web3RPCError) and not already_known(error):
                refused = rejection(error)
                await self.recorder.record(replace(record, status="failed", error=refused.name))
                raise refused from None
        log.warning("broadcast unconfirmed", extra={"tx": record.tx_hash})
        raise BroadcastUnconfirmed(record.tx_hash, type(error).__name__) from None
