"""The storage node's protocol state: txs from the chain, segment uploads, finality, downloads.

The checks and their order are the real node's (zgs rpc impl + chunk pool), through
zerog_storage.check_segment_upload; this module adds what the node keeps between calls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from devnet.storage_node.store import NodeStore, TxRecord
from zerog_storage import (
    CHUNK_SIZE,
    MAX_CACHE_FILE_SIZE,
    SEGMENT_CHUNKS,
    FileInfo,
    FileLayout,
    SegmentAlreadyUploaded,
    SegmentWithProof,
    ShardConfig,
    Transaction,
    check_segment_upload,
    internal_error,
    invalid_params,
    segment_already_uploaded,
    segments_for_shard,
    too_many_writes,
)

# The chunk pool keeps segments of a tx it has not seen for 300 s.
CACHE_TTL_SECONDS = 300.0
MAX_WRITES = 16


@dataclass
class Faults:
    """Test knobs: how this node misbehaves."""

    outage: bool = False
    """Every call on the public port answers HTTP 503."""
    hold_writes: bool = False
    """Segment writes wait until released: lets a test pile up concurrent writes."""

    def to_json(self) -> dict[str, bool]:
        """{outage, holdWrites}."""
        return {"outage": self.outage, "holdWrites": self.hold_writes}


@dataclass
class _Cached:
    file_size: int
    expires: float
    segments: dict[int, SegmentWithProof] = field(default_factory=dict)


class StorageNodeCore:
    """One node's files: its shard, the txs it follows, the segments it holds."""

    def __init__(
        self,
        store: NodeStore,
        shard: ShardConfig,
        *,
        max_writes: int = MAX_WRITES,
        max_cache_file_size: int = MAX_CACHE_FILE_SIZE,
    ) -> None:
        self.store = store
        self.shard = shard
        self.max_writes = max_writes
        self.max_cache_file_size = max_cache_file_size
        self.faults = Faults()
        self._records = store.load()
        self._by_root: dict[bytes, list[int]] = {}
        for seq in sorted(self._records):
            self._by_root.setdefault(self._records[seq].tx.data_merkle_root, []).append(seq)
        self._writing: set[tuple[int, int]] = set()
        self._cache: dict[bytes, _Cached] = {}
        self._released = asyncio.Event()
        self._released.set()

    # --- txs from the chain -------------------------------------------------------------

    @property
    def next_tx_seq(self) -> int:
        """One past the highest tx seq seen."""
        return max(self._records, default=-1) + 1

    def add_tx(self, tx: Transaction) -> None:
        """A Submit event reached the sync height: record the tx and adopt cached/copied data."""
        if tx.seq in self._records:
            return
        self.store.put_tx(tx)
        record = TxRecord(tx)
        self._records[tx.seq] = record
        self._by_root.setdefault(tx.data_merkle_root, []).append(tx.seq)
        self._by_root[tx.data_merkle_root].sort()
        twin = self._finalized_twin(record)
        if twin is not None:
            self._copy(twin, record)
            return
        cached = self._take_cache(tx.data_merkle_root)
        if cached is not None and cached.file_size == tx.size:
            for segment in cached.segments.values():
                self._store_segment(record, segment)
        self._maybe_finalize(record)

    def _finalized_twin(self, record: TxRecord) -> TxRecord | None:
        for seq in self._by_root[record.tx.data_merkle_root]:
            other = self._records[seq]
            if other is not record and other.finalized and other.stored >= self._required(other):
                return other
        return None

    def _required(self, record: TxRecord) -> set[int]:
        tx = record.tx
        return set(segments_for_shard(tx.start_entry_index, _segments(tx), self.shard))

    def _maybe_finalize(self, record: TxRecord) -> None:
        if record.finalized or not record.stored >= self._required(record):
            return
        record.finalized = True
        self.store.set_finalized(record.tx.seq, True)
        # Several txs may share a root: once one is complete, the node fills the others.
        for seq in self._by_root[record.tx.data_merkle_root]:
            other = self._records[seq]
            if not other.finalized:
                self._copy(record, other)

    def _copy(self, source: TxRecord, target: TxRecord) -> None:
        self.store.copy_segments(source.tx.seq, target.tx.seq)
        target.stored = set(source.stored)
        target.finalized = True
        self.store.set_finalized(target.tx.seq, True)

    # --- lookups ------------------------------------------------------------------------

    def by_root(self, root: bytes, need_available: bool = False) -> TxRecord | None:
        """The tx getFileInfo picks: first finalized, else the first one.

        `need_available` skips pruned txs; a devnet node never prunes, so it changes nothing.
        """
        records = [self._records[s] for s in self._by_root.get(root, ())]
        for record in records:
            if record.finalized:
                return record
        return records[0] if records else None

    def by_seq(self, seq: int) -> TxRecord | None:
        """The tx with that seq, if the node has seen it."""
        return self._records.get(seq)

    def file_info(self, record: TxRecord) -> FileInfo:
        """zgs_getFileInfo's answer for a tx."""
        cached = self._live_cache(record.tx.data_merkle_root)
        if cached is not None:
            uploaded, is_cached = len(cached.segments), True
        elif record.finalized:
            uploaded, is_cached = _segments(record.tx), False
        else:
            uploaded, is_cached = len(record.stored), False
        return FileInfo(record.tx, record.finalized, is_cached, uploaded)

    # --- uploads ------------------------------------------------------------------------

    async def upload(self, segments: list[SegmentWithProof], tx_seq: int | None = None) -> None:
        """zgs_uploadSegments (tx_seq None: tx found by root) or zgs_uploadSegmentsByTxSeq."""
        record = None if tx_seq is None else self.by_seq(tx_seq)
        for segment in segments:
            if tx_seq is None:
                record = self.by_root(segment.root)
            try:
                await self._put(segment, record)
            except SegmentAlreadyUploaded:
                # By tx seq, the node skips duplicates so a retried batch goes through.
                if tx_seq is None:
                    raise

    async def _put(self, segment: SegmentWithProof, record: TxRecord | None) -> None:
        already_cached = self._live_cache(segment.root) is not None
        need_cache = check_segment_upload(
            segment,
            None if record is None else record.tx,
            finalized=record is not None and record.finalized,
            already_cached=already_cached,
            max_cache_file_size=self.max_cache_file_size,
        )
        if need_cache or record is None:
            self._cache_segment(segment)
            return
        key = (record.tx.seq, segment.index)
        if segment.index in record.stored or key in self._writing:
            raise segment_already_uploaded()
        if len(self._writing) >= self.max_writes:
            raise too_many_writes(self.max_writes)
        self._writing.add(key)
        try:
            await self._released.wait()
            self._store_segment(record, segment)
        finally:
            self._writing.discard(key)
        self._maybe_finalize(record)

    def _store_segment(self, record: TxRecord, segment: SegmentWithProof) -> None:
        tx = record.tx
        # A sharded node keeps only the segments of its shard; others are accepted and dropped.
        if self.shard.holds(tx.start_entry_index // SEGMENT_CHUNKS + segment.index):
            self.store.put_segment(tx.seq, segment.index, segment.data, segment.proof)
            record.stored.add(segment.index)

    def _cache_segment(self, segment: SegmentWithProof) -> None:
        cached = self._live_cache(segment.root)
        if cached is None:
            cached = _Cached(segment.file_size, time.monotonic() + CACHE_TTL_SECONDS)
            self._cache[segment.root] = cached
        if segment.index in cached.segments:
            raise segment_already_uploaded()
        cached.segments[segment.index] = segment
        record = self.by_root(segment.root)
        if record is not None and not record.finalized:
            # The tx is known: the pool hands cached segments to the store right away.
            self._take_cache(segment.root)
            if cached.file_size == record.tx.size:
                for seg in cached.segments.values():
                    self._store_segment(record, seg)
            self._maybe_finalize(record)

    def _live_cache(self, root: bytes) -> _Cached | None:
        cached = self._cache.get(root)
        if cached is not None and cached.expires < time.monotonic():
            del self._cache[root]
            return None
        return cached

    def _take_cache(self, root: bytes) -> _Cached | None:
        cached = self._live_cache(root)
        self._cache.pop(root, None)
        return cached

    @property
    def writes_in_flight(self) -> int:
        """Segment writes currently under way."""
        return len(self._writing)

    def hold_writes(self, hold: bool) -> None:
        """Fault knob: park writes (True) or let them through (False)."""
        self.faults.hold_writes = hold
        if hold:
            self._released.clear()
        else:
            self._released.set()

    # --- downloads ----------------------------------------------------------------------

    def download_range(self, record: TxRecord | None, start: int, end: int) -> bytes | None:
        """File-relative chunks [start, end) as stored; None if the node lacks any of them."""
        if start >= end:
            raise invalid_params("end_index", "invalid chunk index")
        if end - start > SEGMENT_CHUNKS:
            raise invalid_params("end_index", f"exceeds maximum chunks {SEGMENT_CHUNKS}")
        if record is None:
            return None
        tx = record.tx
        if end > -(-tx.size // CHUNK_SIZE):
            # The node's message names the start index (sic).
            raise internal_error(f"end entry index exceeds tx size: end={start} tx size={tx.size}")
        out = bytearray()
        for index in range(start // SEGMENT_CHUNKS, (end - 1) // SEGMENT_CHUNKS + 1):
            stored = self.store.get_segment(tx.seq, index)
            if stored is None:
                return None
            base = index * SEGMENT_CHUNKS
            lo, hi = max(start, base) - base, min(end, base + SEGMENT_CHUNKS) - base
            out += stored[0][lo * CHUNK_SIZE : hi * CHUNK_SIZE]
        return bytes(out)

    def download_with_proof(self, record: TxRecord | None, index: int) -> SegmentWithProof | None:
        """Data segment `index` (no flow padding) with its proof; None if not held."""
        if record is None:
            return None
        tx = record.tx
        if index >= _segments(tx):
            raise invalid_params("index", "index out of bound")
        stored = self.store.get_segment(tx.seq, index)
        if stored is None:
            return None
        data, proof = stored
        return SegmentWithProof(tx.data_merkle_root, data, index, proof, tx.size)

    # --- fault knobs --------------------------------------------------------------------

    def corrupt_segment(self, root: bytes, index: int) -> bool:
        """Flip the first byte of a stored segment of every tx with `root`; False if none held."""
        done = False
        for seq in self._by_root.get(root, ()):
            stored = self.store.get_segment(seq, index)
            if stored is not None:
                data = bytearray(stored[0])
                data[0] ^= 0xFF
                self.store.put_segment(seq, index, bytes(data), stored[1])
                done = True
        return done

    def lose_file(self, root: bytes, forget_tx: bool = False) -> bool:
        """Drop the data of every tx with `root` (the node still believes it finalized them);
        with forget_tx the txs go too, as if the node had never synced them."""
        seqs = self._by_root.get(root, [])
        for seq in seqs:
            record = self._records[seq]
            record.stored.clear()
            self.store.delete_segments(seq)
            if forget_tx:
                self.store.delete_tx(seq)
                del self._records[seq]
        if forget_tx:
            self._by_root.pop(root, None)
        self._cache.pop(root, None)
        return bool(seqs)


def _segments(tx: Transaction) -> int:
    return FileLayout(tx.size).data_segments
