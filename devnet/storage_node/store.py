"""On-disk state of a devnet storage node: txs, segments with their proofs, the sync cursor.

One SQLite file in the node's data directory; every change is committed before the RPC that
caused it answers, so a restarted node serves exactly what it acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from zerog_storage import SegmentProof, Transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tx (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    finalized INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS segment (
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    proof TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class TxRecord:
    """A tx the node learnt from the chain and which of its segments it holds."""

    tx: Transaction
    finalized: bool = False
    stored: set[int] = field(default_factory=set)


class NodeStore:
    """SQLite persistence; the node keeps an in-memory index and writes through here."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "node.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def load(self) -> dict[int, TxRecord]:
        """Every tx with its finalized flag and stored segment indexes."""
        records = {
            seq: TxRecord(Transaction.from_json(json.loads(body)), bool(finalized))
            for seq, body, finalized in self._db.execute("SELECT seq, body, finalized FROM tx")
        }
        for seq, idx in self._db.execute("SELECT seq, idx FROM segment"):
            if seq in records:
                records[seq].stored.add(idx)
        return records

    def put_tx(self, tx: Transaction) -> None:
        """Record a tx (idempotent: a re-read log does not reset its state)."""
        self._db.execute(
            "INSERT OR IGNORE INTO tx (seq, body) VALUES (?, ?)",
            (tx.seq, json.dumps(tx.to_json())),
        )

    def set_finalized(self, seq: int, finalized: bool) -> None:
        """Mark a tx finalized (or not, when its data was lost)."""
        self._db.execute("UPDATE tx SET finalized = ? WHERE seq = ?", (int(finalized), seq))

    def delete_tx(self, seq: int) -> None:
        """Forget a tx and its data."""
        with self._db:
            self._db.execute("DELETE FROM segment WHERE seq = ?", (seq,))
            self._db.execute("DELETE FROM tx WHERE seq = ?", (seq,))

    def put_segment(self, seq: int, index: int, data: bytes, proof: SegmentProof) -> None:
        """Store one verified segment with the proof it came with."""
        self._db.execute(
            "INSERT OR REPLACE INTO segment (seq, idx, data, proof) VALUES (?, ?, ?, ?)",
            (seq, index, data, json.dumps(proof.to_json())),
        )

    def get_segment(self, seq: int, index: int) -> tuple[bytes, SegmentProof] | None:
        """A stored segment and its proof, None if this node does not hold it."""
        row = self._db.execute(
            "SELECT data, proof FROM segment WHERE seq = ? AND idx = ?", (seq, index)
        ).fetchone()
        if row is None:
            return None
        return bytes(row[0]), SegmentProof.from_json(json.loads(row[1]))

    def delete_segments(self, seq: int) -> None:
        """Drop every segment of a tx (the 'lost data' fault)."""
        self._db.execute("DELETE FROM segment WHERE seq = ?", (seq,))

    def copy_segments(self, source: int, target: int) -> None:
        """Copy a finalized tx's segments to another tx with the same root."""
        self._db.execute(
            "INSERT OR REPLACE INTO segment (seq, idx, data, proof) "
            "SELECT ?, idx, data, proof FROM segment WHERE seq = ?",
            (target, source),
        )

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the meta table."""
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
