"""The file merkle tree: segment roots, carry-up levels, submission nodes, root and proofs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import BinaryIO

from zerog_storage.hashing import (
    ZERO_HASHES,
    balanced_root,
    carry_levels,
    fold_root,
    full_segment_roots,
    hash_chunks,
    segment_parts,
)
from zerog_storage.layout import (
    CHUNK_SIZE,
    SEGMENT_CHUNKS,
    SEGMENT_HEIGHT,
    SEGMENT_SIZE,
    FileLayout,
    num_chunks,
)
from zerog_storage.models import SegmentProof, SegmentWithProof
from zerog_storage.submission import SubmissionData, SubmissionNode

__all__ = ["FileMerkleTree", "TreeBuilder", "file_segment_roots"]

Buffer = bytes | bytearray | memoryview
# Reads of 16 segments (4 MiB) keep the working set in cache; larger blocks measured slower.
_READ_SEGMENTS = 16
# Below this many full segments, process hand-off costs more than it saves.
_PARALLEL_MIN_SEGMENTS = 32


@dataclass(frozen=True, slots=True)
class FileMerkleTree:
    """Everything the protocol derives from a file's bytes; holds 32 bytes per segment, no data."""

    size: int
    levels: tuple[tuple[bytes, ...], ...]
    nodes: tuple[SubmissionNode, ...]

    @property
    def root(self) -> bytes:
        """The file root (dataMerkleRoot)."""
        return self.levels[-1][0]

    @property
    def layout(self) -> FileLayout:
        """Chunk and segment geometry."""
        return FileLayout(self.size)

    @property
    def segment_roots(self) -> tuple[bytes, ...]:
        """Roots of every flow segment, padding-only segments (ZERO_HASHES[10]) included."""
        return self.levels[0]

    def submission(self, tags: bytes = b"") -> SubmissionData:
        """SubmissionData as the SDKs build it (TS default tags are empty, 0x)."""
        return SubmissionData(self.size, tags, self.nodes)

    def proof(self, index: int) -> SegmentProof:
        """Proof of flow segment `index` against the root, in the SDK's lemma/path format."""
        if not 0 <= index < len(self.levels[0]):
            raise IndexError(f"segment {index} out of range")
        lemma = [self.levels[0][index]]
        path = []
        pos = index
        for level in self.levels[:-1]:
            if pos & 1:
                lemma.append(level[pos - 1])
                path.append(False)
            elif pos + 1 < len(level):
                lemma.append(level[pos + 1])
                path.append(True)
            # else: the node is carried up unchanged and contributes no sibling
            pos >>= 1
        if path:
            lemma.append(self.root)
        return SegmentProof(tuple(lemma), tuple(path))

    def segment_with_proof(self, index: int, segment: Buffer) -> SegmentWithProof:
        """Upload payload for data segment `index`, given its bytes (the last chunk is padded)."""
        layout = self.layout
        if not 0 <= index < layout.data_segments:
            raise IndexError(f"data segment {index} out of range")
        start, end = layout.segment_span(index)
        if len(segment) != end - start:
            raise ValueError(f"segment {index} holds {end - start} bytes, got {len(segment)}")
        data = bytes(segment) + bytes(layout.segment_payload_size(index) - len(segment))
        return SegmentWithProof(self.root, data, index, self.proof(index), self.size)

    def segments_from_bytes(self, data: Buffer) -> Iterator[SegmentWithProof]:
        """Every upload payload of a file held in memory."""
        view = memoryview(data)
        for i in range(self.layout.data_segments):
            start, end = self.layout.segment_span(i)
            yield self.segment_with_proof(i, view[start:end])

    def segments_from_path(
        self, path: str | os.PathLike[str], indexes: Iterable[int] | None = None
    ) -> Iterator[SegmentWithProof]:
        """Upload payloads read one segment at a time from a file (all, or `indexes`)."""
        layout = self.layout
        with open(path, "rb") as f:
            for i in range(layout.data_segments) if indexes is None else indexes:
                start, end = layout.segment_span(i)
                f.seek(start)
                yield self.segment_with_proof(i, f.read(end - start))

    @classmethod
    def from_bytes(cls, data: Buffer) -> FileMerkleTree:
        """Tree of a file held in memory."""
        builder = TreeBuilder()
        builder.update(data)
        return builder.finish()

    @classmethod
    def from_stream(
        cls, stream: BinaryIO, block_size: int = _READ_SEGMENTS * SEGMENT_SIZE
    ) -> FileMerkleTree:
        """Tree of a binary stream read to its end, `block_size` bytes (4 MiB) at a time."""
        builder = TreeBuilder()
        buf = bytearray(block_size)
        view = memoryview(buf)
        while n := stream.readinto(view):  # type: ignore[attr-defined]  # BinaryIO lacks readinto
            builder.update(view[:n])
        return builder.finish()

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], *, executor: Executor | None = None, workers: int = 2
    ) -> FileMerkleTree:
        """Tree of a file on disk; with a process `executor`, hashed in `workers` parallel parts."""
        size = os.path.getsize(path)
        full = size // SEGMENT_SIZE
        if executor is None or full < _PARALLEL_MIN_SEGMENTS or workers < 2:
            # A small file gets a buffer its size: zeroing 4 MiB for 1 MiB cost ~10% of its time.
            block = min(_READ_SEGMENTS, max(1, -(-size // SEGMENT_SIZE))) * SEGMENT_SIZE
            with open(path, "rb") as f:
                return cls.from_stream(f, block)
        step = -(-full // workers)
        parts = [
            executor.submit(file_segment_roots, os.fspath(path), first, min(step, full - first))
            for first in range(0, full, step)
        ]
        roots = [r for part in parts for r in part.result()]
        with open(path, "rb") as f:
            f.seek(full * SEGMENT_SIZE)
            tail = f.read()
        return _finish(size, roots, tail)


def file_segment_roots(path: str, first: int, count: int) -> list[bytes]:
    """Roots of `count` full segments of a file starting at segment `first` (a worker's part)."""
    roots: list[bytes] = []
    buf = bytearray(_READ_SEGMENTS * SEGMENT_SIZE)
    with open(path, "rb") as f:
        f.seek(first * SEGMENT_SIZE)
        while count > 0:
            n = min(count, _READ_SEGMENTS)
            view = memoryview(buf)[: n * SEGMENT_SIZE]
            if f.readinto(view) != len(view):
                raise OSError(f"{path} shrank while hashing")
            roots.extend(full_segment_roots(view, n))
            count -= n
    return roots


class TreeBuilder:
    """Incremental tree: feed bytes in any pieces, then finish(); buffers under one segment."""

    def __init__(self) -> None:
        self._roots: list[bytes] = []
        self._pending = bytearray()
        self._size = 0

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: Buffer) -> None:
        """Feed the next bytes of the file."""
        view = memoryview(data).cast("B")
        self._size += len(view)
        if self._pending:
            take = SEGMENT_SIZE - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < SEGMENT_SIZE:
                return
            self._roots.extend(full_segment_roots(self._pending, 1))
            self._pending.clear()
        full = len(view) // SEGMENT_SIZE
        if full:
            self._roots.extend(full_segment_roots(view, full))
        self._pending += view[full * SEGMENT_SIZE :]

    def finish(self) -> FileMerkleTree:
        """The tree of everything fed; an empty file raises EmptyFile."""
        return _finish(self._size, self._roots, bytes(self._pending))


def _finish(size: int, full_roots: Sequence[bytes], tail: bytes) -> FileMerkleTree:
    layout = FileLayout(size)
    roots = list(full_roots)
    low_parts: list[tuple[int, bytes]] = []
    if tail:
        chunks = num_chunks(len(tail))
        padded_tail = tail + bytes(chunks * CHUNK_SIZE - len(tail))
        leaves = hash_chunks(padded_tail, chunks)
        parts = segment_parts(leaves, layout.segment_leaf_count(len(roots)))
        roots.append(fold_root([r for _, r in parts]))
        if layout.padded_chunks % SEGMENT_CHUNKS:
            low_parts = parts
    # Padding-only segments exist only when padding spans whole segments: all zero.
    roots.extend([ZERO_HASHES[SEGMENT_HEIGHT]] * (layout.flow_segments - len(roots)))
    nodes = []
    offset = 0
    for h in layout.heights:
        if h >= SEGMENT_HEIGHT:
            first = offset // SEGMENT_CHUNKS
            span = roots[first : first + (1 << (h - SEGMENT_HEIGHT))]
            nodes.append(SubmissionNode(balanced_root(span, h - SEGMENT_HEIGHT, SEGMENT_HEIGHT), h))
        offset += 1 << h
    nodes.extend(SubmissionNode(r, h) for h, r in low_parts)
    levels = tuple(tuple(level) for level in carry_levels(roots))
    return FileMerkleTree(size, levels, tuple(nodes))
