"""The JSON-RPC clients against a real HTTP server on 127.0.0.1 acting as node and indexer."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from zerog_storage import (
    SEGMENT_SIZE,
    AlreadyFinalized,
    FileInfo,
    FileMerkleTree,
    IndexerClient,
    InvalidProof,
    RpcError,
    RpcTransportError,
    SegmentRejected,
    SegmentWithProof,
    StorageNodeClient,
    TooManyWrites,
    Transaction,
    check_segment_upload,
    too_many_writes,
    verify_segment_with_proof,
)
from zerog_storage._hex import hash_from_hex, to_hex

DATA = os.urandom(3 * SEGMENT_SIZE + 1000)
TREE = FileMerkleTree.from_bytes(DATA)
TX = Transaction(TREE.root, tuple(TREE.submission().merkle_nodes()), 4096, len(DATA), 5)
NODE = {
    "url": "http://127.0.0.1:5678",
    "config": {"shardId": 0, "numShard": 1},
    "latency": 12,
    "since": 1700000000,
}


class FakeNode:
    """A node + indexer over HTTP/1.1 keep-alive, with canned answers and real upload checks."""

    def __init__(self) -> None:
        self.segments: dict[int, bytes] = {}
        self.busy = False
        self.lie = False
        self.calls: list[str] = []
        self.handlers: dict[str, Callable[..., Any]] = {
            "zgs_getStatus": lambda: {
                "connectedPeers": 3,
                "logSyncHeight": 120,
                "logSyncBlock": "0x" + "ab" * 32,
                "nextTxSeq": 6,
                "networkIdentity": {
                    "chainId": 16602,
                    "flowAddress": "0x22E03a6A89B950F1c82ec5e74F8eCa321a105296",
                    "p2pProtocolVersion": {"major": 0, "minor": 4, "build": 0},
                },
            },
            "zgs_getShardConfig": lambda: {"shardId": 0, "numShard": 1},
            "zgs_getFileInfo": lambda root, need: (
                self.info() if root == to_hex(TREE.root) else None
            ),
            "zgs_getFileInfoByTxSeq": lambda seq: self.info() if seq == TX.seq else None,
            "zgs_checkFileFinalized": lambda key: (
                self.finalized() if key in (TX.seq, to_hex(TREE.root)) else None
            ),
            "zgs_uploadSegmentsByTxSeq": self.upload,
            "zgs_downloadSegmentByTxSeq": self.download,
            "zgs_downloadSegmentWithProof": self.download_with_proof,
            "zgs_getFlowContext": lambda: ["0x" + "11" * 32, 8192],
            "indexer_getShardedNodes": lambda: {"trusted": [NODE], "discovered": None},
            "indexer_getSelectedNodes": lambda replica, method, full, dropped: {
                "trusted": [NODE] * replica,
                "discovered": [],
            },
            "indexer_getFileLocations": lambda root: [NODE] if root == to_hex(TREE.root) else None,
            "indexer_getNodeLocations": lambda: {NODE["url"]: {"city": "Paris"}},
        }

    def finalized(self) -> bool:
        return len(self.segments) == TREE.layout.data_segments

    def info(self) -> dict[str, Any]:
        return FileInfo(TX, self.finalized(), False, len(self.segments)).to_json()

    def upload(self, segs: list[dict[str, Any]], seq: int) -> None:
        if self.busy:
            raise too_many_writes()
        for obj in segs:
            seg = SegmentWithProof.from_json(obj)
            check_segment_upload(seg, TX if seq == TX.seq else None, finalized=self.finalized())
            self.segments[seg.index] = seg.data

    def download(self, seq: int, start: int, end: int) -> str | None:
        if seq != TX.seq or not self.finalized():
            return None
        whole = b"".join(self.segments[i] for i in sorted(self.segments))
        return base64.b64encode(whole[start * 256 : end * 256]).decode()

    def download_with_proof(self, root: str, index: int) -> dict[str, Any]:
        data = self.segments[index]
        if self.lie:
            data = bytes(len(data))
        return SegmentWithProof(
            hash_from_hex(root), data, index, TREE.proof(index), TX.size
        ).to_json()

    def answer(self, body: bytes) -> tuple[str, bytes]:
        request = json.loads(body)
        method = request["method"]
        self.calls.append(method)
        if method == "broken_http":
            return "500 Internal Server Error", b"upstream exploded"
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
        if method == "wrong_id":
            reply["id"] = request["id"] + 1000
            reply["result"] = 1
        elif method not in self.handlers:
            reply["error"] = {"code": -32601, "message": "Method not found"}
        else:
            try:
                reply["result"] = self.handlers[method](*request["params"])
            except RpcError as e:
                reply["error"] = e.to_json()
        return "200 OK", json.dumps(reply).encode()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                headers = dict(line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
                lengths = [v for k, v in headers.items() if k.lower() == "content-length"]
                body = await reader.readexactly(int(lengths[0]) if lengths else 0)
                status, payload = self.answer(body)
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeNode, str]]:
    node = FakeNode()
    server = await asyncio.start_server(node.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield node, f"http://127.0.0.1:{port}"
        server.close()


async def test_status_shards_and_unknown_files(fake: tuple[FakeNode, str]) -> None:
    _, url = fake
    async with StorageNodeClient(url) as client:
        status = await client.get_status()
        assert status.connected_peers == 3 and status.next_tx_seq == 6
        assert status.network_identity is not None
        assert status.network_identity.chain_id == 16602
        assert status.network_identity.p2p_protocol_version == (0, 4, 0)
        shard = await client.get_shard_config()
        assert (shard.shard_id, shard.num_shard) == (0, 1)
        assert await client.get_file_info(os.urandom(32)) is None
        assert await client.check_file_finalized(999) is None
        assert await client.get_flow_context() == (bytes.fromhex("11" * 32), 8192)


async def test_upload_finalize_and_download(fake: tuple[FakeNode, str]) -> None:
    node, url = fake
    async with StorageNodeClient(url) as client:
        info = await client.get_file_info(TREE.root, True)
        assert info is not None and info.tx == TX and not info.finalized
        segments = list(TREE.segments_from_bytes(DATA))
        await client.upload_segments_by_tx_seq(segments[:2], TX.seq)
        assert await client.check_file_finalized(TX.seq) is False
        await client.upload_segments_by_tx_seq(segments[2:], TX.seq)
        assert await client.check_file_finalized(TREE.root) is True
        by_seq = await client.get_file_info_by_tx_seq(TX.seq)
        assert by_seq is not None and by_seq.finalized and by_seq.uploaded_seg_num == 4

        with pytest.raises(AlreadyFinalized) as raised:
            await client.upload_segments_by_tx_seq(segments[:1], TX.seq)
        assert raised.value.code == -32602 and raised.value.message == "Invalid params: root"

        chunks = TREE.layout.chunks
        parts = [
            await client.download_segment(TX.seq, s, min(s + 1024, chunks))
            for s in range(0, chunks, 1024)
        ]
        assert b"".join(p or b"" for p in parts)[: TX.size] == DATA

        for i in range(TREE.layout.data_segments):
            seg = await client.download_segment_with_proof(TREE.root, i)
            assert seg is not None
            verify_segment_with_proof(seg, TREE.root, len(DATA))
        node.lie = True
        seg = await client.download_segment_with_proof(TREE.root, 0)
        assert seg is not None
        with pytest.raises(InvalidProof):
            verify_segment_with_proof(seg, TREE.root, len(DATA))


async def test_rejected_and_busy_uploads(fake: tuple[FakeNode, str]) -> None:
    node, url = fake
    async with StorageNodeClient(url) as client:
        seg, *_, last = TREE.segments_from_bytes(DATA)
        with pytest.raises(SegmentRejected) as raised:
            await client.upload_segments_by_tx_seq([replace(last, index=0)], TX.seq)
        assert raised.value.message == "Invalid params: data"
        assert raised.value.data == "invalid data length"
        assert raised.value.method == "zgs_uploadSegmentsByTxSeq"
        node.busy = True
        with pytest.raises(TooManyWrites):
            await client.upload_segments_by_tx_seq([seg], TX.seq)
        with pytest.raises(RpcError) as missing:
            await client.call("zgs_noSuchMethod")
        assert missing.value.code == -32601


async def test_indexer(fake: tuple[FakeNode, str]) -> None:
    _, url = fake
    async with IndexerClient(url) as indexer:
        nodes = await indexer.get_sharded_nodes()
        assert [n.url for n in nodes.trusted] == [NODE["url"]] and nodes.discovered == ()
        assert nodes.trusted[0].config.num_shard == 1 and nodes.trusted[0].latency == 12
        selected = await indexer.get_selected_nodes(2, "random", True, ["http://x"])
        assert len(selected.trusted) == 2
        located = await indexer.get_file_locations(TREE.root)
        assert located is not None and located[0].url == NODE["url"]
        assert await indexer.get_file_locations(os.urandom(32)) is None
        assert (await indexer.get_node_locations())[NODE["url"]] == {"city": "Paris"}


async def test_transport_failures(fake: tuple[FakeNode, str]) -> None:
    node, url = fake
    async with StorageNodeClient(url) as client:
        with pytest.raises(RpcTransportError, match="HTTP 500"):
            await client.call("broken_http")
        with pytest.raises(RpcTransportError, match="id does not match"):
            await client.call("wrong_id")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    async with StorageNodeClient(f"http://127.0.0.1:{closed}", timeout=2.0) as client:
        with pytest.raises(RpcTransportError, match="ConnectError"):
            await client.get_status()
    assert "broken_http" in node.calls
