"""The node's JSON-RPC surface: zgs_* on the public port, admin_* (test knobs) on the admin port."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from devnet.storage_node.jsonrpc import Handler, bad_params, hash_param, param
from devnet.storage_node.node import StorageNodeCore
from devnet.storage_node.store import TxRecord
from devnet.storage_node.sync import LogSync
from zerog_storage import NetworkIdentity, SegmentWithProof, Status


def _segments(params: list[Any], index: int, *, many: bool) -> list[SegmentWithProof]:
    raw = param(params, index, list if many else dict)
    items = raw if many else [raw]
    try:
        return [SegmentWithProof.from_json(item) for item in items]
    except (KeyError, TypeError, ValueError) as e:
        raise bad_params(f"argument {index}: invalid segment: {e}") from None


def _root_or_seq(
    core: StorageNodeCore, value: Any, need_available: bool = False
) -> TxRecord | None:
    if isinstance(value, str):
        return core.by_root(hash_param([value], 0), need_available)
    return core.by_seq(param([value], 0, int))


class NodeMethods:
    """Binds the zgs_* and admin_* handlers to one node's state."""

    def __init__(self, core: StorageNodeCore, sync: LogSync, identity: NetworkIdentity) -> None:
        self.core = core
        self.sync = sync
        self.identity = identity

    def public(self) -> dict[str, Handler]:
        """zgs_* methods, names as in specs/zg-storage.md section 3."""
        return {
            "zgs_getStatus": self.get_status,
            "zgs_getShardConfig": self.get_shard_config,
            "zgs_getFileInfo": self.get_file_info,
            "zgs_getFileInfoByTxSeq": self.get_file_info_by_tx_seq,
            "zgs_checkFileFinalized": self.check_file_finalized,
            "zgs_uploadSegment": self.upload_segment,
            "zgs_uploadSegments": self.upload_segments,
            "zgs_uploadSegmentByTxSeq": self.upload_segment_by_tx_seq,
            "zgs_uploadSegmentsByTxSeq": self.upload_segments_by_tx_seq,
            "zgs_downloadSegment": self.download_segment,
            "zgs_downloadSegmentByTxSeq": self.download_segment,
            "zgs_downloadSegmentWithProof": self.download_segment_with_proof,
            "zgs_downloadSegmentWithProofByTxSeq": self.download_segment_with_proof,
        }

    def admin(self) -> dict[str, Handler]:
        """Test knobs (the admin port, :5679 on a real node)."""
        return {
            "admin_getFaults": self.get_faults,
            "admin_setFaults": self.set_faults,
            "admin_corruptSegment": self.corrupt_segment,
            "admin_loseFile": self.lose_file,
            "admin_syncHeight": self.sync_height,
        }

    def gate(self) -> web.Response | None:
        """The outage knob: the public port answers 503 to everything."""
        if self.core.faults.outage:
            return web.Response(status=503, text="service unavailable (devnet outage knob)")
        return None

    async def get_status(self, params: list[Any]) -> dict[str, Any]:
        return Status(
            connected_peers=0,
            log_sync_height=max(self.sync.height, 0),
            log_sync_block=self.sync.block_hash,
            next_tx_seq=self.core.next_tx_seq,
            network_identity=self.identity,
        ).to_json()

    async def get_shard_config(self, params: list[Any]) -> dict[str, Any]:
        return self.core.shard.to_json()

    async def get_file_info(self, params: list[Any]) -> dict[str, Any] | None:
        root = hash_param(params, 0)
        need_available = bool(param(params, 1, bool, optional=True))
        record = self.core.by_root(root, need_available)
        return None if record is None else self.core.file_info(record).to_json()

    async def get_file_info_by_tx_seq(self, params: list[Any]) -> dict[str, Any] | None:
        record = self.core.by_seq(param(params, 0, int))
        return None if record is None else self.core.file_info(record).to_json()

    async def check_file_finalized(self, params: list[Any]) -> bool | None:
        if not params:
            raise bad_params("missing value for required argument 0")
        record = _root_or_seq(self.core, params[0])
        return None if record is None else record.finalized

    async def upload_segment(self, params: list[Any]) -> None:
        await self.core.upload(_segments(params, 0, many=False))

    async def upload_segments(self, params: list[Any]) -> None:
        await self.core.upload(_segments(params, 0, many=True))

    async def upload_segment_by_tx_seq(self, params: list[Any]) -> None:
        segments = _segments(params, 0, many=False)
        await self.core.upload(segments, param(params, 1, int))

    async def upload_segments_by_tx_seq(self, params: list[Any]) -> None:
        segments = _segments(params, 0, many=True)
        await self.core.upload(segments, param(params, 1, int))

    async def download_segment(self, params: list[Any]) -> str | None:
        if not params:
            raise bad_params("missing value for required argument 0")
        start, end = param(params, 1, int), param(params, 2, int)
        data = self.core.download_range(_root_or_seq(self.core, params[0], True), start, end)
        return None if data is None else base64.b64encode(data).decode("ascii")

    async def download_segment_with_proof(self, params: list[Any]) -> dict[str, Any] | None:
        if not params:
            raise bad_params("missing value for required argument 0")
        index = param(params, 1, int)
        segment = self.core.download_with_proof(_root_or_seq(self.core, params[0], True), index)
        return None if segment is None else segment.to_json()

    async def get_faults(self, params: list[Any]) -> dict[str, Any]:
        return {**self.core.faults.to_json(), "writesInFlight": self.core.writes_in_flight}

    async def set_faults(self, params: list[Any]) -> dict[str, Any]:
        changes = param(params, 0, dict)
        if "outage" in changes:
            self.core.faults.outage = bool(changes["outage"])
        if "holdWrites" in changes:
            self.core.hold_writes(bool(changes["holdWrites"]))
        return await self.get_faults([])

    async def corrupt_segment(self, params: list[Any]) -> bool:
        return self.core.corrupt_segment(hash_param(params, 0), param(params, 1, int))

    async def lose_file(self, params: list[Any]) -> bool:
        forget = bool(param(params, 1, bool, optional=True))
        return self.core.lose_file(hash_param(params, 0), forget)

    async def sync_height(self, params: list[Any]) -> dict[str, Any]:
        return {"height": self.sync.height, "block": self.sync.block_hash}
