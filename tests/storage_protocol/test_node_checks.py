"""The node's upload checks: order, JSON-RPC codes and the real node's messages."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from zerog_storage import (
    CALL_EXECUTION_FAILED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    SEGMENT_SIZE,
    AlreadyFinalized,
    FileMerkleTree,
    SegmentAlreadyUploaded,
    SegmentProof,
    SegmentRejected,
    SegmentWithProof,
    TooManyWrites,
    Transaction,
    check_segment_upload,
    classify_rpc_error,
    segment_already_uploaded,
    too_many_writes,
)

SIZE = 5 * SEGMENT_SIZE - 700


@pytest.fixture(scope="module")
def upload() -> tuple[FileMerkleTree, list[SegmentWithProof], Transaction]:
    data = os.urandom(SIZE)
    tree = FileMerkleTree.from_bytes(data)
    tx = Transaction(tree.root, tuple(tree.submission().merkle_nodes()), 2048, SIZE, 9)
    return tree, list(tree.segments_from_bytes(data)), tx


def _rejected(seg: SegmentWithProof, tx: Transaction | None, **kw: bool) -> dict[str, object]:
    with pytest.raises(SegmentRejected) as raised:
        check_segment_upload(seg, tx, **kw)
    return raised.value.to_json()


def test_valid_segments_write_or_cache(upload) -> None:
    _, segments, tx = upload
    for seg in segments:
        assert check_segment_upload(seg, tx) is False
        assert check_segment_upload(seg, None) is True
        assert check_segment_upload(seg, tx, already_cached=True) is True


def test_size_checks_come_first(upload) -> None:
    _, segments, tx = upload
    seg = segments[0]
    assert _rejected(replace(seg, data=b""), tx) == {
        "code": CALL_EXECUTION_FAILED,
        "message": "data is empty",
    }
    assert _rejected(replace(seg, data=seg.data[:-1]), tx) == {
        "code": CALL_EXECUTION_FAILED,
        "message": "invalid data length",
    }


def test_tx_checks(upload) -> None:
    _, segments, tx = upload
    seg = segments[0]
    assert _rejected(seg, replace(tx, data_merkle_root=bytes(32))) == {
        "code": INTERNAL_ERROR,
        "message": "Internal error",
        "data": "data root and tx seq not match",
    }
    assert _rejected(seg, replace(tx, size=SIZE + 1)) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: file_size",
        "data": "segment file size not matched with tx file size",
    }
    finalized = _rejected(seg, tx, finalized=True)
    assert finalized["message"] == "Invalid params: root"
    assert finalized["data"] == "already uploaded and finalized"
    assert _rejected(seg, tx, pruned=True)["data"] == "already pruned"
    big = replace(seg, file_size=11 * 1024 * 1024)
    assert _rejected(big, None) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: file_size",
        "data": "caching of large file when tx is unavailable is not supported",
    }


def test_segment_checks(upload) -> None:
    tree, segments, tx = upload
    seg, last = segments[0], segments[-1]
    assert _rejected(replace(seg, index=5), tx) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: index",
        "data": "index out of bound",
    }
    assert _rejected(replace(last, data=seg.data), tx) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: data",
        "data": "invalid data length",
    }
    bad_format = replace(seg, proof=SegmentProof(seg.proof.lemma[:2], seg.proof.path))
    assert _rejected(bad_format, tx) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: proof",
        "data": "invalid proof",
    }
    lemma = list(seg.proof.lemma)
    lemma[1] = bytes(32)
    bad_fold = replace(seg, proof=SegmentProof(tuple(lemma), seg.proof.path))
    assert _rejected(bad_fold, tx) == {
        "code": INVALID_PARAMS,
        "message": "Invalid params: proof",
        "data": "validation failed",
    }
    moved = _rejected(replace(segments[1], index=2), tx)
    assert moved == {
        "code": CALL_EXECUTION_FAILED,
        "message": "wrong position: proof_pos=1 provided=2",
    }
    tampered = replace(seg, data=bytes(SEGMENT_SIZE))
    assert str(_rejected(tampered, tx)["message"]).startswith("data hash mismatch: leaf_hash=0x")
    assert tree.root == seg.root


def test_write_conflicts_and_client_side_classification() -> None:
    dup = segment_already_uploaded()
    busy = too_many_writes()
    assert dup.message == "segment has already been uploaded or is being uploaded"
    assert busy.message == "too many data writing: 16"
    method = "zgs_uploadSegmentsByTxSeq"
    assert isinstance(classify_rpc_error(method, dup.code, dup.message), SegmentAlreadyUploaded)
    assert isinstance(classify_rpc_error(method, busy.code, busy.message), TooManyWrites)
    fin = classify_rpc_error(
        method, -32602, "Invalid params: root", "already uploaded and finalized"
    )
    assert isinstance(fin, AlreadyFinalized)
    assert type(classify_rpc_error(method, -32602, "Invalid params: proof", "x")) is (
        SegmentRejected
    )
