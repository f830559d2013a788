"""Keccak-256 merkle primitives: leaves, parents, ZERO_HASHES and fast whole-level hashing.

Whole levels (a segment's leaves and pairs, a list of pairs) go to the C level hasher of
keccak_native in one call each when it is built; otherwise to safe-pysha3, one hash object per
node (measured here 4-5x slower than the C one). Both give the same bytes; tests compare them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from operator import add

from sha3 import keccak_256

from zerog_storage import keccak_native
from zerog_storage.layout import (
    CHUNK_SIZE,
    SEGMENT_CHUNKS,
    SEGMENT_HEIGHT,
    SEGMENT_SIZE,
    split_heights,
)

__all__ = [
    "EMPTY_CHUNK_HASH",
    "ZERO_HASHES",
    "balanced_root",
    "carry_levels",
    "carry_root",
    "fold_root",
    "full_segment_roots",
    "hash_chunks",
    "hash_pairs",
    "keccak256",
    "leaf_hash",
    "native_in_use",
    "parent_hash",
    "segment_parts",
    "segment_root",
    "use_native",
]

# The safe-pysha3 loops below run entirely inside C iterators (map, struct, operator): per node
# the interpreter executes no bytecode. The unbound method descriptor avoids the bound-method object
# that methodcaller("digest") allocates per call (about 12% of a tree's time).
_digest = keccak_256.digest
_PAIR = 64
# Segments per C call: a read-only view (e.g. of bytes) is copied for the call, so batches keep
# that copy at 4 MiB instead of the whole file; the call itself costs microseconds.
_NATIVE_BATCH = 16
_LOADED = keccak_native.load()
_native = _LOADED


def use_native(enabled: bool) -> bool:
    """Hash levels in C (if built) or with safe-pysha3; True if the C library is now in use."""
    global _native
    _native = _LOADED if enabled else None
    return _native is not None


def native_in_use() -> bool:
    """True when levels are hashed by the C library (built, and not switched off)."""
    return _native is not None


def keccak256(data: bytes | bytearray | memoryview) -> bytes:
    """Ethereum Keccak-256 (not NIST SHA3-256)."""
    return keccak_256(data).digest()  # type: ignore[no-any-return]  # sha3 is untyped


def leaf_hash(chunk: bytes | bytearray | memoryview) -> bytes:
    """Leaf of one 256-byte chunk: keccak(chunk), no prefix."""
    return keccak256(chunk)


def parent_hash(left: bytes, right: bytes) -> bytes:
    """Parent node: keccak(left || right), no prefix."""
    return keccak256(left + right)


def _zero_hashes(count: int) -> tuple[bytes, ...]:
    out = [keccak256(bytes(CHUNK_SIZE))]
    while len(out) < count:
        out.append(parent_hash(out[-1], out[-1]))
    return tuple(out)


# ZERO_HASHES[d] is the root of 2**d zero chunks; heights stay below 64 by contract rule.
ZERO_HASHES: tuple[bytes, ...] = _zero_hashes(64)
EMPTY_CHUNK_HASH: bytes = ZERO_HASHES[0]


@lru_cache(maxsize=128)
def _splitter(size: int, count: int) -> struct.Struct:
    return struct.Struct(f"{size}s" * count)


def _digests(joined: bytes) -> list[bytes]:
    return list(_splitter(32, len(joined) // 32).unpack(joined))


def hash_chunks(
    buf: bytes | bytearray | memoryview, count: int = SEGMENT_CHUNKS, offset: int = 0
) -> list[bytes]:
    """Leaf hashes of `count` whole chunks of `buf` starting at byte `offset`."""
    if count <= 0:
        return []
    if _native is not None:
        return _digests(_native.hash_nodes(buf, CHUNK_SIZE, count, offset))
    chunks = _splitter(CHUNK_SIZE, count).unpack_from(buf, offset)
    return list(map(_digest, map(keccak_256, chunks)))


def hash_pairs(nodes: Sequence[bytes]) -> list[bytes]:
    """Parents of consecutive pairs (nodes[0], nodes[1]), (nodes[2], nodes[3]), ...; even length."""
    if _native is not None:
        return _digests(_native.hash_nodes(b"".join(nodes), _PAIR, len(nodes) // 2))
    return list(map(_digest, map(keccak_256, map(add, nodes[0::2], nodes[1::2]))))


def full_segment_roots(
    buf: bytes | bytearray | memoryview, count: int, offset: int = 0
) -> list[bytes]:
    """Roots of `count` consecutive full segments (1024 chunks each) of `buf` from `offset`."""
    roots: list[bytes] = []
    if _native is not None:
        for first in range(0, count, _NATIVE_BATCH):
            n = min(_NATIVE_BATCH, count - first)
            at = offset + first * SEGMENT_SIZE
            roots += _digests(_native.subtree_roots(buf, CHUNK_SIZE, SEGMENT_HEIGHT, n, at))
        return roots
    split = _splitter(CHUNK_SIZE, SEGMENT_CHUNKS).unpack_from
    for i in range(count):
        level = list(map(_digest, map(keccak_256, split(buf, offset + i * SEGMENT_SIZE))))
        for _ in range(SEGMENT_HEIGHT):
            level = list(map(_digest, map(keccak_256, map(add, level[0::2], level[1::2]))))
        roots.append(level[0])
    return roots


def balanced_root(leaves: Sequence[bytes], height: int, base: int = 0) -> bytes:
    """Root of a 2**height subtree whose first leaves are given and the rest are zero.

    `base` is the height of the leaves themselves (10 for segment roots), so missing nodes at
    level l are ZERO_HASHES[base + l]; a zero subtree is never rehashed.
    """
    if len(leaves) > 1 << height:
        raise ValueError(f"{len(leaves)} leaves do not fit a subtree of height {height}")
    if not leaves:
        return ZERO_HASHES[base + height]
    level = list(leaves)
    for lvl in range(height):
        if len(level) & 1:
            level.append(ZERO_HASHES[base + lvl])
        level = hash_pairs(level)
    return level[0]


def fold_root(roots: Sequence[bytes]) -> bytes:
    """Right fold keccak(r0 || keccak(r1 || ...)): the file root from submission node roots."""
    if not roots:
        raise ValueError("no roots to fold")
    acc = roots[-1]
    for r in reversed(roots[:-1]):
        acc = parent_hash(r, acc)
    return acc


def carry_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the carry-up tree: pair left to right, an odd last node moves up as is."""
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = hash_pairs(cur[: len(cur) & ~1])
        if len(cur) & 1:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def carry_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the carry-up tree over `leaves`."""
    return carry_levels(leaves)[-1][0]


def segment_parts(leaves: Sequence[bytes], leaf_count: int) -> list[tuple[int, bytes]]:
    """(height, root) of the power-of-two parts of a segment of `leaf_count` padded leaves.

    Only the data leaves are given; the rest are EMPTY_CHUNK_HASH. For the last segment of a
    file these parts are the submission nodes below segment height.
    """
    parts = []
    offset = 0
    for h in split_heights(leaf_count):
        parts.append((h, balanced_root(leaves[offset : offset + (1 << h)], h)))
        offset += 1 << h
    return parts


def segment_root(leaves: Sequence[bytes], leaf_count: int = SEGMENT_CHUNKS) -> bytes:
    """Root of one segment of `leaf_count` padded leaves (carry rule), zero-extended."""
    if leaf_count & (leaf_count - 1) == 0:
        return balanced_root(leaves, leaf_count.bit_length() - 1)
    return fold_root([root for _, root in segment_parts(leaves, leaf_count)])
