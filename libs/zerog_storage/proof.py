"""Segment proof verification as the storage node does it (and as download checks need it)."""

from __future__ import annotations

from zerog_storage._hex import to_hex
from zerog_storage.errors import EmptyFile, InvalidProof, ProofFailure
from zerog_storage.hashing import ZERO_HASHES, hash_chunks, parent_hash, segment_root
from zerog_storage.layout import CHUNK_SIZE, SEGMENT_CHUNKS, SEGMENT_HEIGHT, FileLayout, next_pow2
from zerog_storage.models import SegmentProof, SegmentWithProof

__all__ = [
    "check_proof",
    "padded_segment_root",
    "proof_position",
    "rear_padding_ok",
    "verify_segment",
    "verify_segment_with_proof",
]


def _path_text(path: tuple[bool, ...]) -> str:
    return "[" + ", ".join("true" if p else "false" for p in path) + "]"


def proof_position(path: tuple[bool, ...], leaf_count: int) -> int:
    """Leaf index a path addresses in a carry-up tree of `leaf_count` leaves."""
    remaining = leaf_count
    position = 0
    for is_left in reversed(path):
        if remaining <= 1:
            raise InvalidProof(
                ProofFailure.POSITION,
                f"Proof path too long for a tree size: path={_path_text(path)}, size={leaf_count}",
            )
        half = next_pow2(remaining) >> 1
        if is_left:
            remaining = half
        else:
            position += half
            remaining -= half
    if remaining != 1:
        raise InvalidProof(
            ProofFailure.POSITION,
            f"Proof path too short for a tree size: path={_path_text(path)}, size={leaf_count}",
        )
    return position


def check_proof(
    proof: SegmentProof, segment_root: bytes, root: bytes, index: int, leaf_count: int
) -> None:
    """Check format, position, fold, root and leaf in the node's order; InvalidProof if any fails.

    The root is compared even for a single-segment file, which the Go and TS SDKs skip.
    """
    lemma, path = proof.lemma, proof.path
    well_formed = len(lemma) == 1 if not path else len(lemma) == len(path) + 2
    if not well_formed:
        raise InvalidProof(ProofFailure.FORMAT)
    position = proof_position(path, leaf_count)
    if position != index:
        raise InvalidProof(
            ProofFailure.POSITION, f"wrong position: proof_pos={position} provided={index}"
        )
    h = lemma[0]
    for is_left, sibling in zip(path, lemma[1:-1], strict=True):
        h = parent_hash(h, sibling) if is_left else parent_hash(sibling, h)
    if h != lemma[-1]:
        raise InvalidProof(ProofFailure.FOLD)
    if lemma[-1] != root:
        raise InvalidProof(
            ProofFailure.ROOT,
            f"root mismatch, proof_root={to_hex(lemma[-1])} provided={to_hex(root)}",
        )
    if lemma[0] != segment_root:
        raise InvalidProof(
            ProofFailure.DATA_HASH,
            f"data hash mismatch: leaf_hash={to_hex(segment_root)} proof_item={to_hex(lemma[0])}",
        )


def rear_padding_ok(proof: SegmentProof, leaf_count: int, data_segments: int) -> bool:
    """Whether every right sibling lying wholly in padding segments equals its ZERO_HASHES value."""
    remaining = leaf_count
    position = 0
    lemma = proof.lemma
    for i, is_left in enumerate(reversed(proof.path)):
        half = next_pow2(remaining) >> 1
        if not is_left:
            position += half
            remaining -= half
            continue
        remaining = half
        # The node compares against the left half's size; for valid padding both sizes agree.
        if position + half >= data_segments and (
            lemma[len(lemma) - 2 - i] != ZERO_HASHES[half.bit_length() - 1 + SEGMENT_HEIGHT]
        ):
            return False
    return True


def padded_segment_root(data: bytes, index: int, layout: FileLayout) -> bytes:
    """Root of segment `index` from its whole chunks, zero-extended as the node does it."""
    leaves = hash_chunks(data, len(data) // CHUNK_SIZE)
    if index == layout.flow_segments - 1:
        return segment_root(leaves, layout.segment_leaf_count(index))
    return segment_root(leaves, SEGMENT_CHUNKS)


def verify_segment(
    data: bytes, index: int, proof: SegmentProof, root: bytes, file_size: int
) -> None:
    """Node-side validation of one data segment: size, index, length, proof and rear padding."""
    try:
        layout = FileLayout(file_size)
    except EmptyFile:
        raise InvalidProof(ProofFailure.FILE_EMPTY) from None
    if not 0 <= index < layout.data_segments:
        raise InvalidProof(ProofFailure.INDEX_OUT_OF_BOUND)
    if len(data) != layout.segment_payload_size(index):
        raise InvalidProof(ProofFailure.DATA_LENGTH)
    seg_root = padded_segment_root(data, index, layout)
    check_proof(proof, seg_root, root, index, layout.flow_segments)
    if not rear_padding_ok(proof, layout.flow_segments, layout.data_segments):
        raise InvalidProof(ProofFailure.PADDING)


def verify_segment_with_proof(
    segment: SegmentWithProof, root: bytes, file_size: int | None = None
) -> None:
    """Download check: the segment proves against the root we expect, not the one it claims."""
    if file_size is not None and segment.file_size != file_size:
        raise InvalidProof(
            ProofFailure.DATA_LENGTH, f"file size {segment.file_size} != expected {file_size}"
        )
    verify_segment(segment.data, segment.index, segment.proof, root, segment.file_size)
