"""Errors of chain access: one root, named for what went wrong.

ChainError
├── ChainUnavailable      the RPC could not be reached (retryable)
│   └── BroadcastUnconfirmed  a transaction was sent but the node's answer was lost
├── ChainIdMismatch       the RPC serves another chain than the profile names
├── ContractReverted      a call or transaction reverted; `name` is the custom error
├── TransactionRejected the node refused to take it (e.g. InsufficientFunds for gas + value)
├── TransactionFailed     mined with status 0 (reason decoded when the node tells it)
└── ReceiptTimeout        no receipt within the timeout (the transaction may still land)
"""

from __future__ import annotations

from collections.abc import Sequence


class ChainError(Exception):
    """Root of every zerog_chain error."""


class ChainUnavailable(ChainError):
    """The RPC endpoint could not be reached or answered garbage."""


class BroadcastUnconfirmed(ChainUnavailable):
    """eth_sendRawTransaction failed without an answer (timeout, broken connection) and the
    node does not show the transaction yet: it may still arrive. The record stays pending, so a
    retry of the same request re-broadcasts the same signed transaction instead of a new one."""

    def __init__(self, tx_hash: str, cause: str) -> None:
        super().__init__(f"broadcast of {tx_hash} unconfirmed ({cause}); retry the same request")
        self.tx_hash = tx_hash


class ChainIdMismatch(ChainError):
    """The RPC's chain id differs from the network profile's."""

    def __init__(self, network: str, expected: int, actual: int) -> None:
        super().__init__(f"network {network} expects chain id {expected}, the RPC reports {actual}")
        self.network = network
        self.expected = expected
        self.actual = actual


class ContractReverted(ChainError):
    """A contract call reverted: `name` is the custom error (or Error / Panic / unknown)."""

    def __init__(self, name: str, args: Sequence[object] = (), data: str = "") -> None:
        shown = ", ".join(str(a) for a in args)
        super().__init__(f"{name}({shown})")
        self.name = name
        self.args_ = tuple(args)
        self.data = data


class TransactionFailed(ChainError):
    """A transaction was mined but reverted."""

    def __init__(self, tx_hash: str, reason: ContractReverted | None) -> None:
        super().__init__(f"transaction {tx_hash} reverted" + (f": {reason}" if reason else ""))
        self.tx_hash = tx_hash
        self.reason = reason


class ReceiptTimeout(ChainError):
    """No receipt arrived in time; the transaction is still pending and may land later."""

    def __init__(self, tx_hash: str, seconds: float) -> None:
        super().__init__(f"no receipt for {tx_hash} after {seconds:g} s")
        self.tx_hash = tx_hash


class TransactionRejected(ChainError):
    """The node refused the transaction; `name` is InsufficientFunds or NodeRejected."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.name = (
            "InsufficientFunds" if "insufficient funds" in message.lower() else "NodeRejected"
        )
