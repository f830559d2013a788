"""Typed JSON shapes of the storage node and indexer: proofs, segments, file info, status."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from zerog_storage._hex import hash_from_hex, to_hex

__all__ = [
    "FileInfo",
    "FlowProof",
    "NetworkIdentity",
    "SegmentProof",
    "SegmentWithProof",
    "ShardConfig",
    "ShardedNode",
    "ShardedNodes",
    "Status",
    "Transaction",
]


def _camel_json(model: Any, **replaced: Any) -> dict[str, Any]:
    """Each field of a model under its camelCase JSON name, in field order (the nodes' order);
    `replaced` gives the JSON value of fields that are not stored as JSON has them."""
    return {
        _camel(f.name): replaced[f.name] if f.name in replaced else getattr(model, f.name)
        for f in fields(model)
    }


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True, slots=True)
class SegmentProof:
    """lemma = [segment root, siblings bottom-up..., file root]; path[j]: I am the left child."""

    lemma: tuple[bytes, ...]
    path: tuple[bool, ...]

    def to_json(self) -> dict[str, Any]:
        """{lemma: ["0x..."], path: [bool]}."""
        return {"lemma": [to_hex(h) for h in self.lemma], "path": list(self.path)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SegmentProof:
        """Parse {lemma, path}; malformed hashes are a ValueError."""
        path = obj["path"]
        if not all(isinstance(p, bool) for p in path):
            raise ValueError("proof path must hold booleans")
        return cls(tuple(hash_from_hex(h) for h in obj["lemma"]), tuple(path))


FlowProof = SegmentProof
"""zgs_getSectorProof answers a proof of the same {lemma, path} shape over the flow tree."""


@dataclass(frozen=True, slots=True)
class SegmentWithProof:
    """An upload/download payload: one data segment with its proof against the file root."""

    root: bytes
    data: bytes
    index: int
    proof: SegmentProof
    file_size: int

    def to_json(self) -> dict[str, Any]:
        """{root, data: std base64, index, proof, fileSize} exactly as the SDKs send it."""
        return _camel_json(
            self,
            root=to_hex(self.root),
            data=base64.b64encode(self.data).decode("ascii"),
            proof=self.proof.to_json(),
        )

    @classmethod
    def from_json(
        cls, obj: dict[str, Any], b64decode: Callable[..., bytes] = base64.b64decode
    ) -> SegmentWithProof:
        """Parse the JSON payload; bad base64 or hashes are a ValueError. `b64decode` may be a
        faster decoder that takes base64.b64decode's arguments."""
        try:
            data = b64decode(obj["data"], validate=True)
        except binascii.Error as e:
            raise ValueError(f"segment data is not base64: {e}") from e
        return cls(
            root=hash_from_hex(obj["root"]),
            data=data,
            index=int(obj["index"]),
            proof=SegmentProof.from_json(obj["proof"]),
            file_size=int(obj["fileSize"]),
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    """The node's record of a Submit event (tx)."""

    data_merkle_root: bytes
    merkle_nodes: tuple[tuple[int, bytes], ...]
    start_entry_index: int
    size: int
    seq: int
    stream_ids: tuple[Any, ...] = ()
    data: bytes = b""

    def to_json(self) -> dict[str, Any]:
        """{streamIds, data, dataMerkleRoot, merkleNodes: [[depth, root]], startEntryIndex, ...}."""
        return {
            "streamIds": list(self.stream_ids),
            "data": list(self.data),
            "dataMerkleRoot": to_hex(self.data_merkle_root),
            "merkleNodes": [[depth, to_hex(root)] for depth, root in self.merkle_nodes],
            "startEntryIndex": self.start_entry_index,
            "size": self.size,
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Transaction:
        """Parse the node's tx JSON."""
        return cls(
            data_merkle_root=hash_from_hex(obj["dataMerkleRoot"]),
            merkle_nodes=tuple((int(d), hash_from_hex(r)) for d, r in obj["merkleNodes"]),
            start_entry_index=int(obj["startEntryIndex"]),
            size=int(obj["size"]),
            seq=int(obj["seq"]),
            stream_ids=tuple(obj.get("streamIds") or ()),
            data=bytes(obj.get("data") or b""),
        )


@dataclass(frozen=True, slots=True)
class FileInfo:
    """zgs_getFileInfo: the tx, and how far this node has it."""

    tx: Transaction
    finalized: bool
    is_cached: bool
    uploaded_seg_num: int
    pruned: bool = False

    def to_json(self) -> dict[str, Any]:
        """{tx, finalized, isCached, uploadedSegNum, pruned}."""
        return _camel_json(self, tx=self.tx.to_json())

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> FileInfo:
        """Parse; `pruned` is absent on older nodes."""
        return cls(
            tx=Transaction.from_json(obj["tx"]),
            finalized=bool(obj["finalized"]),
            is_cached=bool(obj.get("isCached", False)),
            uploaded_seg_num=int(obj.get("uploadedSegNum", 0)),
            pruned=bool(obj.get("pruned", False)),
        )


@dataclass(frozen=True, slots=True)
class NetworkIdentity:
    """Which chain and Flow contract a node follows."""

    chain_id: int
    flow_address: str
    p2p_protocol_version: tuple[int, int, int] = (0, 0, 0)

    def to_json(self) -> dict[str, Any]:
        """{chainId, flowAddress, p2pProtocolVersion: {major, minor, build}}."""
        version = dict(zip(("major", "minor", "build"), self.p2p_protocol_version, strict=True))
        return _camel_json(self, p2p_protocol_version=version)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> NetworkIdentity:
        """Parse; the protocol version is optional."""
        v = obj.get("p2pProtocolVersion") or {}
        return cls(
            chain_id=int(obj["chainId"]),
            flow_address=str(obj["flowAddress"]),
            p2p_protocol_version=(
                int(v.get("major", 0)),
                int(v.get("minor", 0)),
                int(v.get("build", 0)),
            ),
        )


@dataclass(frozen=True, slots=True)
class Status:
    """zgs_getStatus."""

    connected_peers: int
    log_sync_height: int
    log_sync_block: str
    next_tx_seq: int = 0
    network_identity: NetworkIdentity | None = None

    def to_json(self) -> dict[str, Any]:
        """{connectedPeers, logSyncHeight, logSyncBlock, nextTxSeq, networkIdentity}."""
        out = _camel_json(self)
        identity = out.pop("networkIdentity")
        if identity is not None:
            out["networkIdentity"] = identity.to_json()
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Status:
        """Parse; nextTxSeq and networkIdentity are absent on older nodes."""
        ident = obj.get("networkIdentity")
        return cls(
            connected_peers=int(obj["connectedPeers"]),
            log_sync_height=int(obj["logSyncHeight"]),
            log_sync_block=str(obj["logSyncBlock"]),
            next_tx_seq=int(obj.get("nextTxSeq", 0)),
            network_identity=NetworkIdentity.from_json(ident) if ident else None,
        )


@dataclass(frozen=True, slots=True)
class ShardConfig:
    """A node stores the segments whose global index % num_shard == shard_id."""

    shard_id: int
    num_shard: int

    def __post_init__(self) -> None:
        n = self.num_shard
        if n < 1 or n & (n - 1) or not 0 <= self.shard_id < n:
            raise ValueError(f"invalid shard config {self.shard_id}/{n}")

    def holds(self, global_segment: int) -> bool:
        """Whether a node with this config stores flow segment `global_segment`."""
        return global_segment % self.num_shard == self.shard_id

    def to_json(self) -> dict[str, Any]:
        """{shardId, numShard}."""
        return _camel_json(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ShardConfig:
        """Parse {shardId, numShard}."""
        return cls(int(obj["shardId"]), int(obj["numShard"]))


@dataclass(frozen=True, slots=True)
class ShardedNode:
    """An indexer entry: a node URL, its shard config, measured latency and since when."""

    url: str
    config: ShardConfig
    latency: int = 0
    since: int = 0

    def to_json(self) -> dict[str, Any]:
        """{url, config, latency, since}."""
        return _camel_json(self, config=self.config.to_json())

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ShardedNode:
        """Parse an indexer node entry."""
        return cls(
            url=str(obj["url"]),
            config=ShardConfig.from_json(obj["config"]),
            latency=int(obj.get("latency", 0)),
            since=int(obj.get("since", 0)),
        )


@dataclass(frozen=True, slots=True)
class ShardedNodes:
    """indexer_getShardedNodes: trusted and discovered nodes."""

    trusted: tuple[ShardedNode, ...] = field(default_factory=tuple)
    discovered: tuple[ShardedNode, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ShardedNodes:
        """Parse; either list may be null."""
        return cls(
            tuple(ShardedNode.from_json(n) for n in obj.get("trusted") or ()),
            tuple(ShardedNode.from_json(n) for n in obj.get("discovered") or ()),
        )
