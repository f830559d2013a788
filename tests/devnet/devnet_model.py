"""Independent Python model of 0G Storage submissions and flow placement (specs/zg-storage.md)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from eth_utils.crypto import keccak

CHUNK = 256
SEGMENT_SECTORS = 1024
ZERO_CHUNK_HASH = keccak(bytes(CHUNK))


def hash_pair(left: bytes, right: bytes) -> bytes:
    return keccak(left + right)


@functools.cache
def zero_root(height: int) -> bytes:
    """Root of 2^height zero chunks (ZERO_HASHES[height] in the spec)."""
    return (
        ZERO_CHUNK_HASH if height == 0 else hash_pair(zero_root(height - 1), zero_root(height - 1))
    )


def next_pow2(n: int) -> int:
    return 1 << (n - 1).bit_length()


def padded_chunks(chunks: int) -> int:
    """The spec's flow padding: up to 1/16 extra, none for powers of two."""
    p = next_pow2(chunks)
    if p == chunks:
        return chunks
    m = max(p // 16, 1)
    return -(-chunks // m) * m


def node_heights(padded: int) -> list[int]:
    """Greedy decomposition of `padded` into strictly decreasing powers of two."""
    heights = []
    for h in range(padded.bit_length() - 1, -1, -1):
        if padded & (1 << h):
            heights.append(h)
    return heights


def _balanced_root(leaves: list[bytes]) -> bytes:
    level = leaves
    while len(level) > 1:
        level = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass(frozen=True)
class FileSubmission:
    """What an SDK would submit for `data`: byte length, (root, height) nodes and file root."""

    length: int
    nodes: list[tuple[bytes, int]]
    root: bytes

    @property
    def sectors(self) -> int:
        return sum(1 << h for _, h in self.nodes)

    def as_arg(self, submitter: str, tags: bytes = b"") -> tuple[object, ...]:
        """The Submission tuple for web3: ((length, tags, nodes), submitter)."""
        return ((self.length, tags, [(r, h) for r, h in self.nodes]), submitter)


def file_submission(data: bytes) -> FileSubmission:
    """Splits `data` into chunks, flow-pads it and builds the submission nodes and file root."""
    chunks = -(-len(data) // CHUNK)
    padded = padded_chunks(chunks)
    body = data.ljust(padded * CHUNK, b"\0")
    leaves = [keccak(body[i * CHUNK : (i + 1) * CHUNK]) for i in range(padded)]
    nodes, start = [], 0
    for h in node_heights(padded):
        nodes.append((_balanced_root(leaves[start : start + (1 << h)]), h))
        start += 1 << h
    root = nodes[-1][0]
    for node_root, _ in reversed(nodes[:-1]):
        root = hash_pair(node_root, root)
    return FileSubmission(length=len(data), nodes=nodes, root=root)


def spec_content(size: int) -> bytes:
    """The spec vectors' file content: b[i] = i % 251."""
    return bytes(i % 251 for i in range(size))


@dataclass
class FlowModel:
    """The flow as the spec describes it: placement of each submission and the flow root."""

    length: int = 1
    subtrees: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def place(self, nodes: list[tuple[bytes, int]]) -> int:
        """Appends a submission's nodes; returns its startPos."""
        sectors = sum(1 << h for _, h in nodes)
        start = _align(self.length, nodes[0][1])
        if start % SEGMENT_SECTORS and (start % SEGMENT_SECTORS) + sectors > SEGMENT_SECTORS:
            start += SEGMENT_SECTORS - start % SEGMENT_SECTORS
        self.length = start
        for root, h in nodes:
            position = _align(self.length, h)
            self.subtrees[(position, h)] = root
            self.length = position + (1 << h)
        return start

    def root(self) -> bytes:
        """Merkle root over next_pow2(length) sectors: sector 0 is a zero word, any sector not
        covered by a submitted subtree is a zero chunk."""
        height = (self.length - 1).bit_length()
        return self._node(0, height)

    def _node(self, low: int, height: int) -> bytes:
        if (low, height) in self.subtrees:
            return self.subtrees[(low, height)]
        high = low + (1 << height)
        if low > 0 and not any(p < high and low < p + (1 << h) for p, h in self.subtrees):
            return zero_root(height)
        if height == 0:
            return bytes(32) if low == 0 else ZERO_CHUNK_HASH
        half = 1 << (height - 1)
        return hash_pair(self._node(low, height - 1), self._node(low + half, height - 1))


def _align(length: int, height: int) -> int:
    unit = 1 << height
    return -(-length // unit) * unit
