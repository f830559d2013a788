"""Typed async JSON-RPC clients for a 0G storage node and the indexer (httpx)."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from zerog_storage._hex import hash_from_hex, to_hex
from zerog_storage.errors import (
    AlreadyFinalized,
    RpcError,
    RpcTransportError,
    SegmentAlreadyUploaded,
    SegmentRejected,
    TooManyWrites,
)
from zerog_storage.models import (
    FileInfo,
    FlowProof,
    SegmentWithProof,
    ShardConfig,
    ShardedNode,
    ShardedNodes,
    Status,
)
from zerog_storage.resilience import Breakers

__all__ = ["IndexerClient", "JsonRpcClient", "StorageNodeClient", "classify_rpc_error"]


def classify_rpc_error(method: str, code: int, message: str, data: Any = None) -> RpcError:
    """The most specific RpcError subclass for a node's error object (the SDKs match on text)."""
    text = f"{message} {data}" if data is not None else message
    cls: type[RpcError] = RpcError
    if "already uploaded and finalized" in text:
        cls = AlreadyFinalized
    elif "too many data writing" in text:
        cls = TooManyWrites
    elif "already been uploaded or is being uploaded" in text:
        cls = SegmentAlreadyUploaded
    elif method.startswith("zgs_uploadSegment"):
        cls = SegmentRejected
    return cls(code, message, data, method=method)


class JsonRpcClient:
    """JSON-RPC 2.0 over HTTP POST, positional params; owns its httpx client unless given one."""

    def __init__(
        self,
        url: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        breakers: Breakers | None = None,
    ) -> None:
        self.url = url
        self._breakers = breakers
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """Call `method`; return its result, raise RpcError or RpcTransportError (CircuitOpen
        while the URL's breaker is open)."""
        if self._breakers is None:
            return await self._call(method, params)
        return await self._breakers.call(self.url, method, lambda: self._call(method, params))

    async def _call(self, method: str, params: tuple[Any, ...]) -> Any:
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.HTTPError as e:
            raise RpcTransportError(method, self.url, f"{type(e).__name__}: {e}") from e
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise RpcTransportError(
                method, self.url, f"HTTP {response.status_code}: not a JSON-RPC response"
            )
        error = answer.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise RpcTransportError(method, self.url, "malformed JSON-RPC error")
            raise classify_rpc_error(
                method,
                int(error.get("code", 0)),
                str(error.get("message", "")),
                error.get("data"),
            )
        if answer.get("id") != request_id:
            raise RpcTransportError(method, self.url, "JSON-RPC response id does not match")
        return answer["result"]


def _seg_json(segments: Sequence[SegmentWithProof]) -> list[dict[str, Any]]:
    return [s.to_json() for s in segments]


def _target(root_or_seq: bytes | int) -> str | int:
    return to_hex(root_or_seq) if isinstance(root_or_seq, bytes) else root_or_seq


class StorageNodeClient(JsonRpcClient):
    """The zgs_* methods of a storage node (default port 5678)."""

    async def get_status(self) -> Status:
        """zgs_getStatus."""
        return Status.from_json(await self.call("zgs_getStatus"))

    async def get_shard_config(self) -> ShardConfig:
        """zgs_getShardConfig."""
        return ShardConfig.from_json(await self.call("zgs_getShardConfig"))

    async def get_file_info(self, root: bytes, need_available: bool = False) -> FileInfo | None:
        """zgs_getFileInfo(root, needAvailable); None if the node knows no tx with that root."""
        result = await self.call("zgs_getFileInfo", to_hex(root), need_available)
        return None if result is None else FileInfo.from_json(result)

    async def get_file_info_by_tx_seq(self, tx_seq: int) -> FileInfo | None:
        """zgs_getFileInfoByTxSeq."""
        result = await self.call("zgs_getFileInfoByTxSeq", tx_seq)
        return None if result is None else FileInfo.from_json(result)

    async def check_file_finalized(self, root_or_seq: bytes | int) -> bool | None:
        """zgs_checkFileFinalized by root (bytes) or tx seq (int); None if unknown."""
        result = await self.call("zgs_checkFileFinalized", _target(root_or_seq))
        return None if result is None else bool(result)

    async def upload_segment(self, segment: SegmentWithProof) -> None:
        """zgs_uploadSegment: the node finds the tx by root (or caches small files)."""
        await self.call("zgs_uploadSegment", segment.to_json())

    async def upload_segments(self, segments: Sequence[SegmentWithProof]) -> None:
        """zgs_uploadSegments."""
        await self.call("zgs_uploadSegments", _seg_json(segments))

    async def upload_segment_by_tx_seq(self, segment: SegmentWithProof, tx_seq: int) -> None:
        """zgs_uploadSegmentByTxSeq."""
        await self.call("zgs_uploadSegmentByTxSeq", segment.to_json(), tx_seq)

    async def upload_segments_by_tx_seq(
        self, segments: Sequence[SegmentWithProof], tx_seq: int
    ) -> None:
        """zgs_uploadSegmentsByTxSeq: what the SDKs use once the tx seq is known."""
        await self.call("zgs_uploadSegmentsByTxSeq", _seg_json(segments), tx_seq)

    async def download_segment(
        self, root_or_seq: bytes | int, start_chunk: int, end_chunk: int
    ) -> bytes | None:
        """zgs_downloadSegment(ByTxSeq): file-relative chunks [start, end), at most 1024."""
        method = (
            "zgs_downloadSegment"
            if isinstance(root_or_seq, bytes)
            else ("zgs_downloadSegmentByTxSeq")
        )
        result = await self.call(method, _target(root_or_seq), start_chunk, end_chunk)
        return None if result is None else base64.b64decode(result)

    async def download_segment_with_proof(
        self, root_or_seq: bytes | int, index: int
    ) -> SegmentWithProof | None:
        """zgs_downloadSegmentWithProof(ByTxSeq): data segment `index` and its proof."""
        method = (
            "zgs_downloadSegmentWithProof"
            if isinstance(root_or_seq, bytes)
            else ("zgs_downloadSegmentWithProofByTxSeq")
        )
        result = await self.call(method, _target(root_or_seq), index)
        return None if result is None else SegmentWithProof.from_json(result)

    async def get_sector_proof(
        self, sector_index: int, flow_root: bytes | None = None
    ) -> FlowProof:
        """zgs_getSectorProof: a flow proof {lemma, path} for one sector (mining)."""
        params: list[Any] = [sector_index] + ([to_hex(flow_root)] if flow_root else [])
        return FlowProof.from_json(await self.call("zgs_getSectorProof", *params))

    async def get_flow_context(self) -> tuple[bytes, int]:
        """zgs_getFlowContext: (flow root, flow length)."""
        root, length = await self.call("zgs_getFlowContext")
        return hash_from_hex(root), int(length)


class IndexerClient(JsonRpcClient):
    """The indexer_* methods: which nodes exist and which hold a file."""

    async def get_sharded_nodes(self) -> ShardedNodes:
        """indexer_getShardedNodes."""
        return ShardedNodes.from_json(await self.call("indexer_getShardedNodes"))

    async def get_selected_nodes(
        self,
        expected_replica: int = 1,
        method: str = "min",
        full_trusted: bool = True,
        dropped: Sequence[str] = (),
    ) -> ShardedNodes:
        """indexer_getSelectedNodes: nodes covering every shard `expected_replica` times."""
        result = await self.call(
            "indexer_getSelectedNodes", expected_replica, method, full_trusted, list(dropped)
        )
        return ShardedNodes.from_json(result)

    async def get_file_locations(self, root: bytes) -> list[ShardedNode] | None:
        """indexer_getFileLocations; None when the indexer has no location for the root."""
        result = await self.call("indexer_getFileLocations", to_hex(root))
        return None if result is None else [ShardedNode.from_json(n) for n in result]

    async def get_node_locations(self) -> dict[str, Any]:
        """indexer_getNodeLocations: IP location per node URL, as the indexer answers it."""
        result = await self.call("indexer_getNodeLocations")
        return dict(result or {})
