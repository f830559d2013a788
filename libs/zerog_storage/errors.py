"""Errors of the 0G storage protocol library, all under StorageProtocolError.

StorageProtocolError
├── EmptyFile                 0 bytes: the protocol cannot store it
├── InvalidSubmission         the Flow contract's InvalidSubmission() revert (reason: which rule)
├── NotEnoughFee              the Flow contract's NotEnoughFee(price, amount, paid) revert
├── InvalidProof              a segment proof does not prove the data (reason: ProofFailure)
├── RpcError                  a JSON-RPC error object (code, message, data), sent or received
│   ├── SegmentRejected       the node refused an uploaded segment (invalid params, size, proof)
│   ├── AlreadyFinalized      "already uploaded and finalized": the SDKs count it as success
│   ├── SegmentAlreadyUploaded  duplicate upload of one segment
│   └── TooManyWrites         "too many data writing": retry later
└── RpcTransportError         HTTP failure, bad status or an answer that is not JSON-RPC
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "AlreadyFinalized",
    "EmptyFile",
    "InvalidProof",
    "InvalidSubmission",
    "NotEnoughFee",
    "ProofFailure",
    "RpcError",
    "RpcTransportError",
    "SegmentAlreadyUploaded",
    "SegmentRejected",
    "StorageProtocolError",
    "TooManyWrites",
]


class StorageProtocolError(Exception):
    """Root of every error raised by zerog_storage."""


class EmptyFile(StorageProtocolError, ValueError):
    """The protocol cannot store an empty file."""


class InvalidSubmission(StorageProtocolError):
    """The Flow contract would revert InvalidSubmission(); `reason` names the broken rule."""

    SELECTOR = bytes.fromhex("f956cee4")

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid submission: {reason}")
        self.reason = reason

    def revert_data(self) -> bytes:
        """The revert data the contract returns: the bare error selector."""
        return self.SELECTOR


class NotEnoughFee(StorageProtocolError):
    """The Flow contract would revert NotEnoughFee(price, amount, paid)."""

    SELECTOR = bytes.fromhex("f85c6482")

    def __init__(self, price: int, amount: int, paid: int) -> None:
        super().__init__(f"not enough fee: price {price} x {amount} sectors > paid {paid}")
        self.price = price
        self.amount = amount
        self.paid = paid

    def revert_data(self) -> bytes:
        """The ABI-encoded revert data: selector then three uint256."""
        return self.SELECTOR + b"".join(
            v.to_bytes(32, "big") for v in (self.price, self.amount, self.paid)
        )


class ProofFailure(StrEnum):
    """Why a segment proof was refused, in the node's order of checks."""

    FILE_EMPTY = "file is empty"
    INDEX_OUT_OF_BOUND = "index out of bound"
    DATA_LENGTH = "invalid data length"
    FORMAT = "invalid proof"
    POSITION = "wrong position"
    FOLD = "validation failed"
    ROOT = "root mismatch"
    DATA_HASH = "data hash mismatch"
    PADDING = "invalid proof node value in the padding range"


class InvalidProof(StorageProtocolError):
    """A segment and its proof do not match the expected root."""

    def __init__(self, reason: ProofFailure, message: str | None = None) -> None:
        super().__init__(message or reason.value)
        self.reason = reason
        self.message = message or reason.value


class RpcError(StorageProtocolError):
    """A JSON-RPC 2.0 error object: what a node answered, or what our devnet node answers."""

    def __init__(self, code: int, message: str, data: Any = None, *, method: str = "") -> None:
        text = f"{message}: {data}" if data is not None else message
        super().__init__(f"{method}: {text} ({code})" if method else f"{text} ({code})")
        self.code = code
        self.message = message
        self.data = data
        self.method = method

    def to_json(self) -> dict[str, Any]:
        """The `error` member of a JSON-RPC response."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    @property
    def text(self) -> str:
        """Message and data together, as the SDKs match on them."""
        return f"{self.message} {self.data}" if self.data is not None else self.message


class SegmentRejected(RpcError):
    """The node refused an uploaded segment (size, index, proof or tx checks)."""


class AlreadyFinalized(RpcError):
    """The file is already uploaded and finalized on that node: success for an uploader."""


class SegmentAlreadyUploaded(RpcError):
    """The segment was uploaded already or is being uploaded."""


class TooManyWrites(RpcError):
    """The node has too many concurrent writes: retry after a pause."""


class RpcTransportError(StorageProtocolError):
    """The HTTP exchange failed or its answer was not a JSON-RPC response."""

    def __init__(self, method: str, url: str, detail: str) -> None:
        super().__init__(f"{method} at {url}: {detail}")
        self.method = method
        self.url = url
        self.detail = detail
