"""File layout of 0G storage: 256-byte chunks, 1024-chunk segments and the flow padding rule."""

from __future__ import annotations

from dataclasses import dataclass

from zerog_storage.errors import EmptyFile

CHUNK_SIZE = 256
SEGMENT_CHUNKS = 1024
SEGMENT_SIZE = CHUNK_SIZE * SEGMENT_CHUNKS
# log2(SEGMENT_CHUNKS): the height of a full segment's subtree inside the file tree.
SEGMENT_HEIGHT = 10
# The node caches segments of a tx it has not seen yet only up to this file size.
MAX_CACHE_FILE_SIZE = 10 * 1024 * 1024
# Files above this size are split by the SDKs into independent submissions (4 GiB).
DEFAULT_FRAGMENT_SIZE = 4 * 1024 * 1024 * 1024

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_FRAGMENT_SIZE",
    "MAX_CACHE_FILE_SIZE",
    "SEGMENT_CHUNKS",
    "SEGMENT_HEIGHT",
    "SEGMENT_SIZE",
    "FileLayout",
    "flow_padded_chunks",
    "next_pow2",
    "num_chunks",
    "split_heights",
]


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (1 for n <= 1)."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def num_chunks(size: int) -> int:
    """Number of 256-byte chunks holding `size` bytes (the last one zero-padded)."""
    return -(-size // CHUNK_SIZE)


def flow_padded_chunks(chunks: int) -> int:
    """Chunk count after flow padding: exact powers of two stay, others round up to p/16."""
    if chunks < 1:
        raise EmptyFile("a file needs at least one chunk")
    p = next_pow2(chunks)
    if p == chunks:
        return chunks
    step = 1 if p < 16 else p // 16
    return -(-chunks // step) * step


def split_heights(padded: int) -> list[int]:
    """Heights of the strictly decreasing power-of-two decomposition of `padded` chunks."""
    return [h for h in range(padded.bit_length() - 1, -1, -1) if padded >> h & 1]


@dataclass(frozen=True, slots=True)
class FileLayout:
    """Chunk and segment geometry of one file of `size` bytes (size >= 1)."""

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise EmptyFile("file is empty")

    @property
    def chunks(self) -> int:
        """Chunks holding file data."""
        return num_chunks(self.size)

    @property
    def padded_chunks(self) -> int:
        """Chunks after flow padding: the sectors paid for and the tree's leaf span."""
        return flow_padded_chunks(self.chunks)

    @property
    def data_segments(self) -> int:
        """Segments holding file data: the ones uploaded."""
        return -(-self.chunks // SEGMENT_CHUNKS)

    @property
    def flow_segments(self) -> int:
        """Leaves of the file tree (the proof leafCount), padding-only segments included."""
        return -(-self.padded_chunks // SEGMENT_CHUNKS)

    @property
    def heights(self) -> list[int]:
        """Submission node heights, strictly decreasing."""
        return split_heights(self.padded_chunks)

    def segment_leaf_count(self, index: int) -> int:
        """Chunk leaves of flow segment `index` in the padded layout (<= 1024 for the last)."""
        return min(SEGMENT_CHUNKS, self.padded_chunks - index * SEGMENT_CHUNKS)

    def segment_span(self, index: int) -> tuple[int, int]:
        """File byte range [start, end) of data segment `index`."""
        start = index * SEGMENT_SIZE
        return start, min(start + SEGMENT_SIZE, self.size)

    def segment_payload_size(self, index: int) -> int:
        """Upload payload size of data segment `index`: its bytes rounded up to whole chunks."""
        start, end = self.segment_span(index)
        return num_chunks(end - start) * CHUNK_SIZE
