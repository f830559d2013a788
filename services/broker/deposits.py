"""Users' own deposits: is a transaction the user's native transfer of the named amount to the
deposit address, mined with status 1 and enough confirmations? Fund credits nothing else.

Only plain transfers count (the transaction's own from, to and value): a payment made inside a
contract call (a smart-contract wallet's internal transfer) is not seen, and is refused as
DEPOSIT_WRONG_RECIPIENT."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import TransactionNotFound

from services.broker.errors import (
    DepositNotFound,
    DepositRefused,
    DepositUnconfirmed,
)
from zerog_chain.node import find_receipt, reaching_the_node
from zerog_grpc import Monotonic, monotonic


@dataclass(frozen=True)
class Deposit:
    """A confirmed deposit, as the chain shows it."""

    tx_hash: str
    sender: str
    amount: int
    block_number: int
    gas_used: int
    effective_gas_price: int
    confirmations: int


class Deposits:
    """Checks deposits to `address` on the chain `w3` reads, waiting up to `wait_seconds` for
    one to be mined and reach `confirmations` (the block it is in counts as the first)."""

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        address: str,
        *,
        confirmations: int,
        wait_seconds: float,
        poll_seconds: float = 0.5,
        clock: Monotonic = monotonic,
    ) -> None:
        self._w3 = w3
        self.address = address
        self.confirmations = confirmations
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._clock = clock

    async def confirmed(self, tx_hash: str, sender: str, amount: int) -> Deposit:
        """The deposit `tx_hash` once it is `sender`'s transfer of exactly `amount` neuron to
        the deposit address with enough confirmations. DepositRefused as soon as it is seen not
        to be; DepositNotFound or DepositUnconfirmed when the wait ends first."""
        deadline = self._clock() + self._wait
        while True:
            found = await self._look(tx_hash, sender, amount)
            if isinstance(found, Deposit):
                return found
            if self._clock() >= deadline:
                if found is None:
                    raise DepositNotFound(tx_hash)
                raise DepositUnconfirmed(tx_hash, found, self.confirmations)
            await asyncio.sleep(min(self._poll, max(deadline - self._clock(), 0.0)))

    async def _look(self, tx_hash: str, sender: str, amount: int) -> Deposit | int | None:
        """The deposit if it is confirmed; else its confirmations so far (0: not mined), or None
        while the node does not know the transaction."""
        with reaching_the_node():
            try:
                tx = await self._w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]  # hex str is accepted
            except TransactionNotFound:
                return None
        if str(tx["from"]).lower() != sender.lower():
            raise DepositRefused(
                "DEPOSIT_WRONG_SENDER", tx_hash, f"transaction {tx_hash} was not sent by {sender}"
            )
        if str(tx.get("to") or "").lower() != self.address.lower():
            raise DepositRefused(
                "DEPOSIT_WRONG_RECIPIENT",
                tx_hash,
                f"transaction {tx_hash} does not pay the deposit address {self.address}",
            )
        if int(tx["value"]) != amount:
            raise DepositRefused(
                "DEPOSIT_WRONG_AMOUNT",
                tx_hash,
                f"transaction {tx_hash} pays {int(tx['value'])} neuron; the intent names {amount}",
            )
        receipt: Any = await find_receipt(self._w3, tx_hash)
        if receipt is None:
            return 0
        if int(receipt["status"]) != 1:
            raise DepositRefused("DEPOSIT_FAILED", tx_hash, f"transaction {tx_hash} failed")
        with reaching_the_node():
            latest = int(await self._w3.eth.block_number)
        block = int(receipt["blockNumber"])
        confirmations = max(latest - block + 1, 0)
        if confirmations < self.confirmations:
            return confirmations
        return Deposit(
            tx_hash=tx_hash,
            sender=str(tx["from"]),
            amount=amount,
            block_number=block,
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
            confirmations=confirmations,
        )
