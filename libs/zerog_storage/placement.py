"""Where the Flow contract places a submission (startPos) and which node holds which segment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zerog_storage.layout import SEGMENT_CHUNKS
from zerog_storage.models import ShardConfig

__all__ = [
    "FlowLog",
    "Placement",
    "global_segment",
    "next_align",
    "place_submission",
    "segments_for_shard",
]


def next_align(n: int, align: int) -> int:
    """Smallest multiple of `align` that is >= n."""
    return -(-n // align) * align


@dataclass(frozen=True, slots=True)
class Placement:
    """A submission's place in the flow: startPos, each node's start, and the new flow length."""

    start_pos: int
    node_starts: tuple[int, ...]
    end: int
    sectors: int


def place_submission(flow_length: int, heights: Sequence[int]) -> Placement:
    """Positions the Flow contract gives nodes of `heights` appended to a flow of that length."""
    if not heights:
        raise ValueError("a submission has at least one node")
    total = sum(1 << h for h in heights)
    start = next_align(max(flow_length, 1), 1 << heights[0])
    # A file may straddle a segment boundary only if it starts on one.
    if start % SEGMENT_CHUNKS and start // SEGMENT_CHUNKS != (start + total - 1) // SEGMENT_CHUNKS:
        start = next_align(start, SEGMENT_CHUNKS)
    starts = []
    pos = start
    for h in heights:
        pos = next_align(pos, 1 << h)
        starts.append(pos)
        pos += 1 << h
    return Placement(starts[0], tuple(starts), pos, total)


class FlowLog:
    """The flow's length across submissions, for a devnet contract model or a node."""

    def __init__(self, length: int = 1) -> None:
        # The flow starts at length 1: sector 0 is never a file's.
        self.length = length

    def append(self, heights: Sequence[int]) -> Placement:
        """Place the next submission and grow the flow."""
        placement = place_submission(self.length, heights)
        self.length = placement.end
        return placement


def global_segment(start_pos: int, index: int) -> int:
    """Flow segment of a file's segment `index` when the file starts at sector `start_pos`."""
    return start_pos // SEGMENT_CHUNKS + index


def segments_for_shard(start_pos: int, data_segments: int, shard: ShardConfig) -> list[int]:
    """File segment indexes a node with `shard` stores: (startSeg + i) % numShard == shardId."""
    first = start_pos // SEGMENT_CHUNKS
    return [i for i in range(data_segments) if shard.holds(first + i)]
