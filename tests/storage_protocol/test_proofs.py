"""Segment proofs: round trip on every segment; each kind of tampering refused with its reason."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from zerog_storage import (
    SEGMENT_SIZE,
    ZERO_HASHES,
    FileMerkleTree,
    InvalidProof,
    ProofFailure,
    SegmentProof,
    SegmentWithProof,
    check_proof,
    fold_root,
    parent_hash,
    proof_position,
    verify_segment,
    verify_segment_with_proof,
)

SIZES = [
    1,
    4096,
    SEGMENT_SIZE,
    SEGMENT_SIZE + 1,
    3 * SEGMENT_SIZE,
    5 * SEGMENT_SIZE - 700,
    16 * SEGMENT_SIZE + 1,  # 17 data segments, 18 in the flow: one padding-only segment
    33 * SEGMENT_SIZE + 100,
]


def _file(size: int) -> tuple[bytes, FileMerkleTree, list[SegmentWithProof]]:
    data = os.urandom(size)
    tree = FileMerkleTree.from_bytes(data)
    return data, tree, list(tree.segments_from_bytes(data))


@pytest.mark.parametrize("size", SIZES)
def test_every_segment_round_trips(size: int) -> None:
    _, tree, segments = _file(size)
    assert len(segments) == tree.layout.data_segments
    for seg in segments:
        verify_segment(seg.data, seg.index, seg.proof, tree.root, size)
        verify_segment_with_proof(SegmentWithProof.from_json(seg.to_json()), tree.root, size)
        assert proof_position(seg.proof.path, tree.layout.flow_segments) == seg.index
    for i, seg_root in enumerate(tree.segment_roots):
        check_proof(tree.proof(i), seg_root, tree.root, i, tree.layout.flow_segments)


def _reason(seg: SegmentWithProof, root: bytes) -> ProofFailure:
    with pytest.raises(InvalidProof) as raised:
        verify_segment(seg.data, seg.index, seg.proof, root, seg.file_size)
    return raised.value.reason


@pytest.mark.parametrize("size", [1, 5 * SEGMENT_SIZE - 700])
def test_tampered_data_is_a_data_hash_mismatch(size: int) -> None:
    _, tree, segments = _file(size)
    for seg in segments:
        flipped = bytes([seg.data[0] ^ 1]) + seg.data[1:]
        assert _reason(replace(seg, data=flipped), tree.root) is ProofFailure.DATA_HASH


def test_wrong_sibling_fails_the_fold() -> None:
    _, tree, segments = _file(5 * SEGMENT_SIZE - 700)
    for seg in segments:
        for j in range(1, len(seg.proof.lemma) - 1):
            lemma = list(seg.proof.lemma)
            lemma[j] = os.urandom(32)
            bad = replace(seg, proof=SegmentProof(tuple(lemma), seg.proof.path))
            assert _reason(bad, tree.root) is ProofFailure.FOLD


def test_wrong_index_is_a_position_mismatch() -> None:
    _, tree, segments = _file(5 * SEGMENT_SIZE)
    bad = replace(segments[1], index=2)
    with pytest.raises(InvalidProof) as raised:
        verify_segment(bad.data, bad.index, bad.proof, tree.root, bad.file_size)
    assert raised.value.reason is ProofFailure.POSITION
    assert str(raised.value) == "wrong position: proof_pos=1 provided=2"
    assert _reason(replace(segments[0], index=5), tree.root) is ProofFailure.INDEX_OUT_OF_BOUND


@pytest.mark.parametrize("size", [100, SEGMENT_SIZE, 3 * SEGMENT_SIZE])
def test_wrong_root_is_refused_even_for_one_segment(size: int) -> None:
    _, _, segments = _file(size)
    for seg in segments:
        assert _reason(seg, os.urandom(32)) is ProofFailure.ROOT


def test_malformed_proofs() -> None:
    _, tree, segments = _file(3 * SEGMENT_SIZE)
    seg = segments[0]
    short = SegmentProof(seg.proof.lemma[:-1], seg.proof.path)
    assert _reason(replace(seg, proof=short), tree.root) is ProofFailure.FORMAT
    too_long = SegmentProof(
        (seg.proof.lemma[0], *seg.proof.lemma[1:-1], os.urandom(32), seg.proof.lemma[-1]),
        (*seg.proof.path, True),
    )
    assert _reason(replace(seg, proof=too_long), tree.root) is ProofFailure.POSITION
    assert _reason(replace(seg, data=seg.data[:-256]), tree.root) is ProofFailure.DATA_LENGTH
    assert _reason(replace(seg, file_size=0), tree.root) is ProofFailure.FILE_EMPTY


def test_non_zero_padding_sibling_is_refused() -> None:
    data, tree, segments = _file(16 * SEGMENT_SIZE + 1)
    last = segments[16]
    assert last.proof.lemma[1] == ZERO_HASHES[10]
    # A proof that folds to its own root but claims data in the padding-only segment 17.
    fake_sibling = os.urandom(32)
    fake_root = fold_root([tree.nodes[0].root, parent_hash(last.proof.lemma[0], fake_sibling)])
    lemma = (last.proof.lemma[0], fake_sibling, tree.nodes[0].root, fake_root)
    forged = replace(last, root=fake_root, proof=SegmentProof(lemma, last.proof.path))
    assert _reason(forged, fake_root) is ProofFailure.PADDING
    assert len(data) == forged.file_size
