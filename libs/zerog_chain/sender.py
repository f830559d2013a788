"""The one place that sends transactions: nonces right under concurrency, gas with a margin,
receipts with a timeout, reverts decoded by name, and every transaction handed to a recorder."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal, cast

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
    BroadcastUnconfirmed,
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


def _message(error: Web3RPCError) -> str:
    message = error.rpc_response.get("error", {}).get("message", "") if error.rpc_response else ""
    return str(message or error.message or "")


def _rejection(error: Web3RPCError) -> TransactionRejected:
    return TransactionRejected(_message(error) or "refused by the node")


def _already_known(error: Web3RPCError) -> bool:
    """geth's and anvil's answers for a transaction already in their pool."""
    message = _message(error).lower()
    return "already known" in message or "known transaction" in message


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
        return await self._count("pending")

    async def _count(self, block: Literal["pending", "latest"]) -> int:
        try:
            return int(
                await self.w3.eth.get_transaction_count(
                    self.wallet.address,  # type: ignore[arg-type]
                    block,
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
            if await self._node_knows(record.tx_hash):
                return
        except ChainUnavailable:
            pass
        else:
            if isinstance(error, Web3RPCError) and not _already_known(error):
                rejection = _rejection(error)
                await self.recorder.record(replace(record, status="failed", error=rejection.name))
                raise rejection from None
        log.warning("broadcast unconfirmed", extra={"tx": record.tx_hash})
        raise BroadcastUnconfirmed(record.tx_hash, type(error).__name__) from None

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
        mined = await self._count("latest")
        for record in records:
            if await self._receipt(record.tx_hash) is not None:
                return await self.wait(record)
        live: list[TxRecord] = []
        for record in records:
            if record.nonce < mined:
                await self.recorder.record(replace(record, status="failed", error="dropped"))
            else:
                live.append(record)
        for record in live:
            if record.raw:
                await self._rebroadcast(record)
                return await self.wait(record)
            if await self._node_knows(record.tx_hash):
                return await self.wait(record)
        # Recorded but never broadcast, and no bytes to send again: whatever is sent next
        # from this wallet reuses the lowest such nonce (the guard sees to it), so at most
        # one transaction of that nonce can ever be mined.
        return None

    async def _rebroadcast(self, record: TxRecord) -> None:
        async with self._lock:
            try:
                await self.w3.eth.send_raw_transaction(record.raw)
            except Web3RPCError:
                pass  # already known, or its nonce was taken meanwhile: the wait tells which
            except _TRANSPORT_ERRORS as error:
                raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
            if record.status != "pending":
                await self.recorder.record(replace(record, status="pending", error=""))

    async def _receipt(self, tx_hash: str) -> object | None:
        try:
            return await self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        except TransactionNotFound:
            return None
        except _TRANSPORT_ERRORS as error:
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None

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
