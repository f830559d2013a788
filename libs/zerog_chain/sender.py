"""The one place that sends transactions: nonces right under concurrency, gas with a margin,
receipts with a timeout, reverts decoded by name, and every transaction handed to a recorder."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, cast

from web3 import AsyncWeb3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxParams

from zerog_chain.abis import decode_revert
from zerog_chain.errors import (
    ChainUnavailable,
    ContractReverted,
    ReceiptTimeout,
    TransactionFailed,
    TransactionRejected,
)
from zerog_chain.records import NonceGuard, NoRecorder, Receipt, TxRecord, TxRecorder
from zerog_chain.wallet import Wallet
from zerog_signing import keccak256

log = logging.getLogger("zerog_chain")

# An estimate is made against the latest block, but the transaction lands in the next one, where
# a Flow epoch may close (~70-170k more gas, devnet/README.md): leave room for that.
GAS_MARGIN = 300_000


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
try:  # aiohttp is web3's async transport; its errors mean "could not reach the RPC".
    import aiohttp

    _TRANSPORT_ERRORS = (*_TRANSPORT_ERRORS, aiohttp.ClientError)
except ImportError:  # pragma: no cover
    pass


def _rejection(error: Web3RPCError) -> TransactionRejected:
    message = error.rpc_response.get("error", {}).get("message", "") if error.rpc_response else ""
    return TransactionRejected(str(message or error.message or "refused by the node"))


def reverted(error: BaseException) -> ContractReverted | None:
    """The decoded revert carried by a web3 error, if it is one."""
    if isinstance(error, ContractLogicError):
        data = error.data if isinstance(error.data, str) else ""
        if data and data != "0x":
            name, args = decode_revert(data)
            return ContractReverted(name, args, data)
        return ContractReverted("Reverted", (str(error.message or ""),))
    return None


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
        self._receipt_timeout = receipt_timeout
        self._poll = poll_interval
        self._lock = asyncio.Lock()
        self._next_nonce: int | None = None
        self._guard = nonce_guard

    async def call(self, to: str, data: bytes) -> bytes:
        """eth_call from the wallet; reverts raise ContractReverted."""
        try:
            params = {"from": self.wallet.address, "to": to, "data": data}
            result = await self.w3.eth.call(cast(TxParams, params))
        except ContractLogicError as error:
            raise reverted(error) from None  # type: ignore[misc]
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
        return bytes(result)

    async def _estimate(self, tx: dict[str, Any]) -> int:
        try:
            return int(await self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractLogicError as error:
            raise reverted(error) from None  # type: ignore[misc]
        except Web3RPCError as error:
            raise _rejection(error) from None
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None

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
        try:
            gas_price = int(await self.w3.eth.gas_price)
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
        record = await self._sign_and_send(base, limit, gas_price, purpose, request_id)
        return await self.wait(record)

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

    async def release_unsent(self) -> None:
        """Mark recorded transactions the node never received failed ('not sent'), so a retry
        waiting on one sends anew instead of waiting for a receipt that cannot come."""
        if self._guard is None:
            return
        async with self._lock, self._guard.hold(self.wallet.address) as last_recorded:
            await self._guarded_nonce(self._guard, last_recorded)

    async def _guarded_nonce(self, guard: NonceGuard, last_recorded: int | None) -> int:
        # A recorded nonce at or past the pending count is either lag (the node has it) or a
        # process that died between record and broadcast (it never left): taking the floor
        # then leaves a gap, and every later transaction of the wallet waits behind it.
        pending = await self._pending_count()
        if last_recorded is None or last_recorded < pending:
            return pending
        unsent: list[int] = []
        for record in await guard.recorded_from(self.wallet.address, pending):
            if record.status == "pending" and not await self._node_knows(record.tx_hash):
                await self.recorder.record(replace(record, status="failed", error="not sent"))
                log.warning("recorded transaction never sent", extra={"tx": record.tx_hash})
                unsent.append(record.nonce)
        return min(unsent) if unsent else last_recorded + 1

    async def _node_knows(self, tx_hash: str) -> bool:
        try:
            await self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        except TransactionNotFound:
            return False
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
        return True

    async def _pending_count(self) -> int:
        try:
            return int(
                await self.w3.eth.get_transaction_count(
                    self.wallet.address,  # type: ignore[arg-type]
                    "pending",
                )
            )
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None

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
        )
        # Recorded before broadcast: a crash after sending still leaves the hash behind.
        await self.recorder.record(record)
        try:
            await self.w3.eth.send_raw_transaction(raw)
        except BaseException as error:
            self._next_nonce = None
            cause = reverted(error)
            await self.recorder.record(
                replace(record, status="failed", error=cause.name if cause else "not sent")
            )
            if cause is not None:
                raise cause from None
            if isinstance(error, Web3RPCError):
                raise _rejection(error) from None
            if isinstance(error, _TRANSPORT_ERRORS):
                raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
            raise
        self._next_nonce = nonce + 1
        return record

    async def wait(self, record: TxRecord) -> Receipt:
        """Wait for the receipt of a sent transaction and record the outcome."""
        try:
            receipt = await self.w3.eth.wait_for_transaction_receipt(
                record.tx_hash,  # type: ignore[arg-type]
                timeout=self._receipt_timeout,
                poll_latency=self._poll,
            )
        except TimeExhausted:
            raise ReceiptTimeout(record.tx_hash, self._receipt_timeout) from None
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
        done = replace(
            record,
            gas_used=int(receipt["gasUsed"]),
            block_number=int(receipt["blockNumber"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
        )
        if receipt["status"] != 1:
            reason = await self._replay_reason(record, int(receipt["blockNumber"]))
            await self.recorder.record(
                replace(done, status="failed", error=reason.name if reason else "reverted")
            )
            raise TransactionFailed(record.tx_hash, reason)
        done = replace(done, status="succeeded")
        await self.recorder.record(done)
        return Receipt(
            record.tx_hash,
            done.block_number,
            done.gas_used,
            done.effective_gas_price,
            tuple(receipt["logs"]),
            done,
        )

    async def _replay_reason(self, record: TxRecord, block: int) -> ContractReverted | None:
        tx = await self.w3.eth.get_transaction(record.tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        try:
            params = {"from": record.sender, "to": record.to, "data": tx["input"]}
            await self.w3.eth.call(cast(TxParams, {**params, "value": record.value}), block - 1)
        except ContractLogicError as error:
            return reverted(error)
        except Exception:
            log.warning("cannot replay a failed transaction", extra={"tx": record.tx_hash})
        return None
