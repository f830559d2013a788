"""What the sender hands to its hooks: transaction records, receipts, the recorder that stores
them and the guard that serialises nonce choice across processes sharing a wallet."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

TxStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class TxRecord:
    """What the recorder stores about one transaction, at each step of its life."""

    tx_hash: str
    purpose: str
    request_id: str
    sender: str
    to: str
    nonce: int
    value: int
    gas_limit: int
    status: TxStatus = "pending"
    gas_used: int = 0
    block_number: int = 0
    effective_gas_price: int = 0
    error: str = ""
    # The signed bytes: a retry re-broadcasts exactly this transaction (same nonce, same hash)
    # rather than signing a second one that could be mined beside it.
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A mined, successful transaction and its logs (raw web3 log dicts)."""

    tx_hash: str
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: Sequence[Any] = field(default=(), repr=False)
    record: TxRecord | None = None


class TxRecorder(Protocol):
    """Stores transactions (the broker writes them to its tables)."""

    async def record(self, tx: TxRecord) -> None:
        """Insert or update the row of `tx.tx_hash`."""
        ...


class NoRecorder:
    """Records nothing (for callers without tables)."""

    async def record(self, tx: TxRecord) -> None:
        return None


class NonceGuard(Protocol):
    """Serialises nonce choice and broadcast across every process sending from one wallet."""

    def hold(self, sender: str) -> AbstractAsyncContextManager[int | None]:
        """Hold the wallet's lock; yields the highest nonce recorded as used (None: none yet).

        The sender then takes max(chain pending count, that + 1), so replicas never reuse a
        nonce even when the node's pending count lags behind a transaction just sent.
        """
        ...

    async def recorded_from(self, sender: str, nonce: int) -> Sequence[TxRecord]:
        """The records counted in that highest nonce whose nonce is `nonce` or more (called
        while holding the lock, to find pending ones the node never received)."""
        ...
