"""Storage-node side of segment uploads: the real node's checks, order and JSON-RPC errors."""

from __future__ import annotations

from zerog_storage.errors import (
    InvalidProof,
    ProofFailure,
    SegmentAlreadyUploaded,
    SegmentRejected,
    TooManyWrites,
)
from zerog_storage.layout import CHUNK_SIZE, MAX_CACHE_FILE_SIZE
from zerog_storage.models import SegmentWithProof, Transaction
from zerog_storage.proof import verify_segment

__all__ = [
    "CALL_EXECUTION_FAILED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "check_segment_upload",
    "internal_error",
    "invalid_params",
    "segment_already_uploaded",
    "too_many_writes",
    "validate_segment",
]

# jsonrpsee codes: the node's invalid_params/internal_error helpers use the standard ones, and a
# plain error string (anyhow) surfaces as "call execution failed".
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
CALL_EXECUTION_FAILED = -32000

# Which node parameter each proof failure is reported against, for invalid_params failures.
_PARAM_FAILURES: dict[ProofFailure, str] = {
    ProofFailure.FILE_EMPTY: "file_size",
    ProofFailure.INDEX_OUT_OF_BOUND: "index",
    ProofFailure.DATA_LENGTH: "data",
    ProofFailure.FORMAT: "proof",
    ProofFailure.FOLD: "proof",
    ProofFailure.PADDING: "proof",
}


def invalid_params(param: str, detail: str) -> SegmentRejected:
    """The node's error::invalid_params: code -32602, "Invalid params: <param>", data = detail."""
    return SegmentRejected(INVALID_PARAMS, f"Invalid params: {param}", detail)


def internal_error(detail: str) -> SegmentRejected:
    """The node's error::internal_error: code -32603, "Internal error", data = detail."""
    return SegmentRejected(INTERNAL_ERROR, "Internal error", detail)


def _failed(message: str) -> SegmentRejected:
    return SegmentRejected(CALL_EXECUTION_FAILED, message)


def segment_already_uploaded() -> SegmentAlreadyUploaded:
    """The chunk pool's answer to a duplicate or concurrent upload of one segment."""
    return SegmentAlreadyUploaded(
        CALL_EXECUTION_FAILED, "segment has already been uploaded or is being uploaded"
    )


def too_many_writes(limit: int = 16) -> TooManyWrites:
    """The chunk pool's answer past `limit` concurrent writes; the SDKs retry on it."""
    return TooManyWrites(CALL_EXECUTION_FAILED, f"too many data writing: {limit}")


def validate_segment(segment: SegmentWithProof) -> None:
    """SegmentWithProof::validate: size, index, data length, proof and rear padding."""
    try:
        verify_segment(segment.data, segment.index, segment.proof, segment.root, segment.file_size)
    except InvalidProof as e:
        param = _PARAM_FAILURES.get(e.reason)
        if param is None:
            raise _failed(e.message) from e
        raise invalid_params(param, e.message) from e


def check_segment_upload(
    segment: SegmentWithProof,
    tx: Transaction | None,
    *,
    finalized: bool = False,
    pruned: bool = False,
    already_cached: bool = False,
    max_cache_file_size: int = MAX_CACHE_FILE_SIZE,
) -> bool:
    """All checks of zgs_uploadSegment(s)[ByTxSeq] in the node's order; True if it must cache.

    `tx` is the transaction found for the upload (by root or by seq), None if the node has not
    seen it yet; `already_cached` says the chunk pool already holds segments of this root.
    """
    if not segment.data:
        raise _failed("data is empty")
    if len(segment.data) % CHUNK_SIZE:
        raise _failed("invalid data length")
    if tx is not None and tx.data_merkle_root != segment.root:
        raise internal_error("data root and tx seq not match")
    need_cache = already_cached or _check_need_cache(
        segment.file_size, tx, finalized, pruned, max_cache_file_size
    )
    validate_segment(segment)
    return need_cache


def _check_need_cache(
    file_size: int, tx: Transaction | None, finalized: bool, pruned: bool, max_cache: int
) -> bool:
    if tx is None:
        if file_size > max_cache:
            raise invalid_params(
                "file_size", "caching of large file when tx is unavailable is not supported"
            )
        return True
    if tx.size != file_size:
        raise invalid_params("file_size", "segment file size not matched with tx file size")
    if finalized:
        raise invalid_params("root", "already uploaded and finalized")
    if pruned:
        raise invalid_params("root", "already pruned")
    return False
