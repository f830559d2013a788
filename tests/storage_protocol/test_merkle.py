"""The merkle tree against an independent naive build: carry-up rule, fold, padding, streaming."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from zerog_storage import (
    EMPTY_CHUNK_HASH,
    SEGMENT_SIZE,
    ZERO_HASHES,
    FileLayout,
    FileMerkleTree,
    TreeBuilder,
    flow_padded_chunks,
    fold_root,
    keccak256,
    nodes_to_root,
    split_heights,
)
from zerog_storage._hex import to_hex


def naive_carry_root(leaves: list[bytes]) -> bytes:
    """The SDK file tree rule, written plainly: pair left to right, carry an odd last node up."""
    level = leaves
    while len(level) > 1:
        nxt = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def naive_leaves(data: bytes) -> list[bytes]:
    """Leaf hashes of every flow-padded chunk, padding chunks hashed like any other."""
    padded = flow_padded_chunks(-(-len(data) // 256)) * 256
    data = data + bytes(padded - len(data))
    return [keccak256(data[i : i + 256]) for i in range(0, len(data), 256)]


def test_zero_hashes() -> None:
    assert to_hex(EMPTY_CHUNK_HASH) == (
        "0xd397b3b043d87fcd6fad1291ff0bfd16401c274896d8c63a923727f077b8e0b5"
    )
    assert keccak256(bytes(256)) == EMPTY_CHUNK_HASH
    for d in range(63):
        assert ZERO_HASHES[d + 1] == keccak256(ZERO_HASHES[d] * 2)


def test_flow_padding_examples_from_the_spec() -> None:
    assert [flow_padded_chunks(c) for c in (1, 2, 3, 5, 15, 16, 17, 1025)] == [
        1,
        2,
        3,
        5,
        15,
        16,
        18,
        1152,
    ]
    layout = FileLayout(4194427)
    assert (layout.chunks, layout.padded_chunks, layout.heights) == (16385, 18432, [14, 11])
    assert split_heights(3840) == [11, 10, 9, 8]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=1, max_value=3 * 1024 * 1024), seed=st.binary(max_size=8))
def test_carry_up_root_equals_fold_of_node_roots(size: int, seed: bytes) -> None:
    data = (seed + b"\x5a") * (size // (len(seed) + 1) + 1)
    data = data[:size]
    tree = FileMerkleTree.from_bytes(data)
    assert naive_carry_root(naive_leaves(data)) == tree.root
    assert nodes_to_root(tree.nodes) == tree.root
    assert fold_root([n.root for n in tree.nodes]) == tree.root
    assert [n.height for n in tree.nodes] == FileLayout(size).heights


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=2 * SEGMENT_SIZE + 5000),
    cuts=st.lists(st.integers(min_value=0, max_value=2 * SEGMENT_SIZE + 5000), max_size=6),
)
def test_builder_is_independent_of_how_bytes_arrive(size: int, cuts: list[int]) -> None:
    data = os.urandom(size)
    builder = TreeBuilder()
    prev = 0
    for cut in sorted({c for c in cuts if c < size}):
        builder.update(data[prev:cut])
        prev = cut
    builder.update(memoryview(data)[prev:])
    assert builder.size == size
    assert builder.finish() == FileMerkleTree.from_bytes(data)


def test_padding_only_segments_are_zero_hashes() -> None:
    tree = FileMerkleTree.from_bytes(os.urandom(16 * SEGMENT_SIZE + 1))
    layout = tree.layout
    assert (layout.data_segments, layout.flow_segments) == (17, 18)
    assert tree.segment_roots[17] == ZERO_HASHES[10]


def test_parallel_from_path_matches(tmp_path: Path) -> None:
    data = os.urandom(40 * SEGMENT_SIZE + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = FileMerkleTree.from_path(path, executor=pool, workers=2)
    assert parallel == FileMerkleTree.from_bytes(data)
