"""Download with a proof check on every segment, failing over to other replicas on bad data.

The official TS and Python SDKs skip the proof check; here a segment is only ever returned after
its proof folds to the root we asked for, so a lying or corrupted node costs a retry, never bytes.
A file's segments are fetched a few at a time and handed out in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import BinaryIO

from zerog_storage.client import NodeSet, StorageNode
from zerog_storage.client_errors import DataLost
from zerog_storage.downloader_rpc import NodeReader
from zerog_storage.errors import InvalidProof, ProofFailure, StorageProtocolError
from zerog_storage.layout import FileLayout
from zerog_storage.models import FileInfo, Transaction
from zerog_storage.placement import global_segment
from zerog_storage.proof import verify_segment_with_proof

__all__ = ["NODES_MAX_AGE", "WINDOW", "Downloader", "Located", "fetch_verified"]

# Segments of one file in flight at once: enough to overlap the node's answer with our proof
# check of the previous one; each costs a segment's bytes (twice, while base64) in memory.
WINDOW = 4
# How old a node discovery a read may reuse; before DATA_LOSS a read always rediscovers.
NODES_MAX_AGE = 5.0


@dataclass(frozen=True, slots=True)
class Located:
    """A file's tx as the nodes know it, every reachable node, and how they are called.

    `fresh`: the nodes were discovered for this read, not reused from an earlier one.
    """

    tx: Transaction
    nodes: tuple[StorageNode, ...]
    reader: NodeReader
    fresh: bool = True

    @property
    def layout(self) -> FileLayout:
        """Chunk and segment geometry of the file."""
        return FileLayout(self.tx.size)

    def holders(self, index: int) -> list[StorageNode]:
        """Nodes whose shard stores data segment `index` of this file."""
        seg = global_segment(self.tx.start_entry_index, index)
        return [n for n in self.nodes if n.holds(seg)]


async def fetch_verified(node: StorageNode, located: Located, index: int) -> bytes:
    """Segment `index` from one node, proof-checked, trimmed to the file's bytes.

    Raises InvalidProof for bad data and StorageProtocolError (or LookupError) when missing.
    """
    tx = located.tx
    seg = await located.reader.segment_with_proof(node.url, tx.seq, index)
    if seg is None:
        raise LookupError("segment not served")
    if seg.index != index:
        raise InvalidProof(ProofFailure.POSITION, f"asked for segment {index}, got {seg.index}")
    verify_segment_with_proof(seg, tx.data_merkle_root, tx.size)
    start, end = located.layout.segment_span(index)
    return seg.data[: end - start]


def _why(error: BaseException) -> str:
    if isinstance(error, InvalidProof):
        return f"bad proof: {error.message}"
    if isinstance(error, LookupError):
        return "missing"
    return f"unreachable: {error}"


class Downloader:
    """Downloads files by root and tx seq from a node set."""

    def __init__(self, nodes: NodeSet) -> None:
        self._nodes = nodes

    async def locate(
        self, root: bytes, size: int, tx_seq: int | None = None, max_age: float = 0.0
    ) -> Located:
        """Find the tx of `root` (by seq when known); DataLost if no node knows it.

        Nodes discovered up to `max_age` seconds ago may be reused, but DataLost is only
        raised after a fresh discovery.
        """
        nodes = tuple(await self._nodes.discover(max_age))
        reader = self._nodes.reader

        async def info(node: StorageNode) -> FileInfo | None:
            try:
                return await reader.file_info(node.url, root, tx_seq)
            except (StorageProtocolError, ValueError, KeyError, TypeError, AttributeError):
                return None

        for found in await asyncio.gather(*(info(n) for n in nodes)):
            # A node's word on the tx is only trusted when it names our root and size.
            if found is not None and found.tx.data_merkle_root == root and found.tx.size == size:
                return Located(found.tx, nodes, reader, fresh=max_age <= 0)
        if max_age > 0:
            return await self.locate(root, size, tx_seq)
        raise DataLost(root, 0, {n.url: "tx unknown" for n in nodes})

    async def _from_holders(self, located: Located, index: int, avoid: set[str]) -> bytes:
        holders = located.holders(index)
        holders.sort(key=lambda n: n.url in avoid)
        reasons: dict[str, str] = {}
        for node in holders:
            try:
                return await fetch_verified(node, located, index)
            except (StorageProtocolError, LookupError, ValueError, KeyError, TypeError) as e:
                reasons[node.url] = _why(e)
                avoid.add(node.url)
        raise DataLost(located.tx.data_merkle_root, index, reasons)

    async def segment(self, located: Located, index: int, avoid: set[str] | None = None) -> bytes:
        """One verified segment from the first replica serving good data; DataLost if none.

        With reused nodes, DataLost comes only after the holders of a fresh discovery fail too.
        """
        avoid = avoid if avoid is not None else set()
        try:
            return await self._from_holders(located, index, avoid)
        except DataLost as lost:
            if located.fresh:
                raise
            first = lost
        tx = located.tx
        try:
            fresh = await self.locate(tx.data_merkle_root, tx.size, tx.seq)
        except DataLost:
            # No node knows the tx any more: the segment's own reasons say more.
            raise first from None
        return await self._from_holders(fresh, index, set())

    async def segments(
        self, root: bytes, size: int, tx_seq: int | None = None
    ) -> AsyncGenerator[bytes]:
        """The file's bytes, one verified segment at a time, in order (WINDOW in flight)."""
        located = await self.locate(root, size, tx_seq, NODES_MAX_AGE)
        avoid: set[str] = set()
        pending: deque[asyncio.Task[bytes]] = deque()
        try:
            for index in range(located.layout.data_segments):
                pending.append(asyncio.ensure_future(self.segment(located, index, avoid)))
                if len(pending) >= WINDOW:
                    yield await pending.popleft()
            while pending:
                yield await pending.popleft()
        finally:
            # A failed segment or a caller that stopped reading: drop the fetches still running.
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def download_to(
        self, out: BinaryIO, root: bytes, size: int, tx_seq: int | None = None
    ) -> None:
        """Write the verified file to `out`."""
        async for data in self.segments(root, size, tx_seq):
            out.write(data)

    async def download(self, root: bytes, size: int, tx_seq: int | None = None) -> bytes:
        """The verified file in memory."""
        return b"".join([d async for d in self.segments(root, size, tx_seq)])

    async def check(self, root: bytes, size: int, tx_seq: int | None = None) -> ReplicaReport:
        """Ask every node that should hold each segment for it, and verify every copy."""
        located = await self.locate(root, size, tx_seq)

        async def copies(index: int) -> SegmentCopies:
            holders = located.holders(index)
            results = await asyncio.gather(
                *(fetch_verified(n, located, index) for n in holders), return_exceptions=True
            )
            good, bad, data = [], {}, None
            for node, result in zip(holders, results, strict=True):
                if isinstance(result, bytes):
                    good.append(node.url)
                    data = result if data is None else data
                elif isinstance(result, Exception):
                    bad[node.url] = _why(result)
                else:
                    raise result
            return SegmentCopies(index, tuple(good), bad, data)

        segs = await asyncio.gather(*(copies(i) for i in range(located.layout.data_segments)))
        return ReplicaReport(located, tuple(segs))


@dataclass(frozen=True, slots=True)
class SegmentCopies:
    """The copies of one data segment: nodes with good data, nodes without and why."""

    index: int
    good: tuple[str, ...]
    bad: dict[str, str]
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ReplicaReport:
    """What a full check of every replica found."""

    located: Located
    segments: tuple[SegmentCopies, ...]

    @property
    def min_good(self) -> int:
        """Good copies of the worst-kept segment."""
        return min(len(s.good) for s in self.segments)

    @property
    def lost(self) -> bool:
        """Whether some segment has no good copy anywhere."""
        return self.min_good == 0

    def healthy(self, replicas: int) -> bool:
        """Whether every segment has at least `replicas` good copies."""
        return self.min_good >= replicas

    def problems(self) -> str:
        """One line per node and segment that failed, for flags and logs."""
        return "; ".join(
            f"segment {seg.index} on {url}: {why}"
            for seg in self.segments
            for url, why in seg.bad.items()
        )

    def data(self) -> bytes:
        """The whole file from good copies (only when not lost)."""
        parts: list[bytes] = []
        for s in self.segments:
            if s.data is None:
                raise DataLost(self.located.tx.data_merkle_root, s.index, s.bad)
            parts.append(s.data)
        return b"".join(parts)
