"""Upload a file to 0G Storage without ever paying twice: known root -> reuse its tx, else submit.

Steps: tree, ask the nodes whether the root is known (carry its tx seq forward), otherwise pay
through the injected Submitter (which is idempotent by request_id), wait for every target node
to see the tx, send each node the segments of its shard with proofs, wait for finality.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from zerog_storage.client import NodeSet, StorageNode, SubmitResult, Submitter, select_nodes
from zerog_storage.client_errors import NodesUnavailable, TxMismatch, UploadIncomplete
from zerog_storage.errors import (
    AlreadyFinalized,
    RpcTransportError,
    SegmentAlreadyUploaded,
    StorageProtocolError,
    TooManyWrites,
)
from zerog_storage.merkle import FileMerkleTree
from zerog_storage.models import FileInfo, SegmentWithProof, Transaction
from zerog_storage.placement import segments_for_shard
from zerog_storage.resilience import backoff

__all__ = ["Source", "UploadOptions", "UploadResult", "Uploader", "build_tree", "segment_payloads"]

Source = bytes | os.PathLike[str]
_T = TypeVar("_T")
OnSubmitted = Callable[[SubmitResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """Timing of the waits and retries (tests shorten them)."""

    poll_interval: float = 0.5
    poll_max: float = 5.0
    """Polls and busy-node retries back off from poll_interval, doubling up to poll_max."""
    tx_timeout: float = 120.0
    finality_timeout: float = 300.0
    batch_segments: int = 10
    write_retries: int = 20


@dataclass(frozen=True, slots=True)
class UploadResult:
    """Where the file is: root, tx seq and the nodes holding it; `submission` if we paid."""

    root: bytes
    tx_seq: int
    size: int
    nodes: tuple[str, ...]
    submission: SubmitResult | None


async def build_tree(source: Source) -> FileMerkleTree:
    """The merkle tree of bytes or a file (hashed in a thread: it is CPU bound)."""
    if isinstance(source, bytes):
        return await asyncio.to_thread(FileMerkleTree.from_bytes, source)
    return await asyncio.to_thread(FileMerkleTree.from_path, source)


def segment_payloads(
    tree: FileMerkleTree, source: Source, indexes: Sequence[int]
) -> list[SegmentWithProof]:
    """The upload payloads (data + proof) of the data segments `indexes`."""
    if isinstance(source, bytes):
        out = []
        for i in indexes:
            start, end = tree.layout.segment_span(i)
            out.append(tree.segment_with_proof(i, source[start:end]))
        return out
    return list(tree.segments_from_path(source, indexes))


class Uploader:
    """Uploads files through a node set, paying with a Submitter."""

    def __init__(
        self, nodes: NodeSet, submitter: Submitter, options: UploadOptions | None = None
    ) -> None:
        self._nodes = nodes
        self._submitter = submitter
        self._opt = options or UploadOptions()

    async def known_tx_seq(
        self, targets: Sequence[StorageNode], tree: FileMerkleTree
    ) -> int | None:
        """The seq of a tx some node already knows for this root and size (finalized first)."""
        infos = await asyncio.gather(
            *(_quiet(n.client.get_file_info(tree.root, False)) for n in targets)
        )
        found = [i for i in infos if i is not None and _same_file(i.tx, tree)]
        found.sort(key=lambda i: (not i.finalized, i.tx.seq))
        return found[0].tx.seq if found else None

    async def upload(
        self,
        source: Source,
        *,
        request_id: str,
        replicas: int = 1,
        tx_seq: int | None = None,
        max_fee: int | None = None,
        on_submitted: OnSubmitted | None = None,
        tree: FileMerkleTree | None = None,
        fresh_tx: bool = False,
    ) -> UploadResult:
        """Store `source` on `replicas` copies; `tx_seq` carries an earlier paid submission.

        `fresh_tx` pays for a new tx even when nodes know the root: the way to refill a node
        that lost data of a tx it still believes finalized (it refuses uploads to that tx).
        """
        tree = tree or await build_tree(source)
        targets = select_nodes(await self._nodes.discover(), replicas)
        paid: SubmitResult | None = None
        if tx_seq is None and not fresh_tx:
            tx_seq = await self.known_tx_seq(targets, tree)
        if tx_seq is None:
            paid = await self._submitter.submit(request_id, tree.submission(), max_fee)
            tx_seq = paid.tx_seq
            if on_submitted is not None:
                await on_submitted(paid)
        tx = await self._wait_for_tx(targets, tx_seq, tree)
        await asyncio.gather(*(self._send(n, tx, tree, source) for n in targets))
        await self.wait_finalized(targets, tx_seq)
        return UploadResult(tree.root, tx_seq, tree.size, tuple(n.url for n in targets), paid)

    async def _wait_for_tx(
        self, targets: Sequence[StorageNode], tx_seq: int, tree: FileMerkleTree
    ) -> Transaction:
        """Poll until every target node has synced the tx from the chain; check it is ours."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._opt.tx_timeout
        waiting = list(targets)
        tx: Transaction | None = None
        delays = self._delays()
        while waiting:
            infos = await asyncio.gather(
                *(_quiet(n.client.get_file_info_by_tx_seq(tx_seq)) for n in waiting)
            )
            still = []
            for node, info in zip(waiting, infos, strict=True):
                if info is None:
                    still.append(node)
                elif not _same_file(info.tx, tree):
                    raise TxMismatch(f"{node.url}: tx {tx_seq} is not this file's")
                else:
                    tx = info.tx
            waiting = still
            if waiting:
                if loop.time() > deadline:
                    urls = ", ".join(n.url for n in waiting)
                    raise UploadIncomplete(f"tx {tx_seq} not seen by {urls}")
                await asyncio.sleep(next(delays))
        assert tx is not None  # targets is never empty
        return tx

    def _delays(self) -> Iterator[float]:
        return backoff(self._opt.poll_interval, max(self._opt.poll_max, self._opt.poll_interval))

    async def send_segments(
        self,
        node: StorageNode,
        tx_seq: int,
        tree: FileMerkleTree,
        source: Source,
        indexes: Sequence[int],
    ) -> None:
        """Upload data segments `indexes` to one node in batches, retrying busy or flaky nodes."""
        step = self._opt.batch_segments
        for first in range(0, len(indexes), step):
            batch = segment_payloads(tree, source, indexes[first : first + step])
            delays = self._delays()
            for attempt in range(self._opt.write_retries + 1):
                try:
                    await node.client.upload_segments_by_tx_seq(batch, tx_seq)
                    break
                except AlreadyFinalized:
                    return
                except TooManyWrites:
                    pass
                except StorageProtocolError as e:
                    if not _transient(e) or attempt == self._opt.write_retries:
                        raise
                await asyncio.sleep(next(delays))
            else:
                raise NodesUnavailable(f"{node.url} stayed busy for tx {tx_seq}")

    async def _send(
        self, node: StorageNode, tx: Transaction, tree: FileMerkleTree, source: Source
    ) -> None:
        info = await _quiet(node.client.get_file_info_by_tx_seq(tx.seq))
        if info is not None and info.finalized:
            return
        indexes = segments_for_shard(tx.start_entry_index, tree.layout.data_segments, node.shard)
        await self.send_segments(node, tx.seq, tree, source, indexes)

    async def wait_finalized(self, targets: Sequence[StorageNode], tx_seq: int) -> None:
        """Poll until every target node reports the tx finalized."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._opt.finality_timeout
        waiting = list(targets)
        delays = self._delays()
        while waiting:
            infos = await asyncio.gather(
                *(_quiet(n.client.get_file_info_by_tx_seq(tx_seq)) for n in waiting)
            )
            waiting = [n for n, i in zip(waiting, infos, strict=True) if not _final(i)]
            if waiting:
                if loop.time() > deadline:
                    urls = ", ".join(n.url for n in waiting)
                    raise UploadIncomplete(f"tx {tx_seq} not finalized on {urls}")
                await asyncio.sleep(next(delays))


def _final(info: FileInfo | None) -> bool:
    return info is not None and info.finalized


def _same_file(tx: Transaction, tree: FileMerkleTree) -> bool:
    return tx.data_merkle_root == tree.root and tx.size == tree.size


def _transient(error: StorageProtocolError) -> bool:
    return isinstance(error, RpcTransportError | SegmentAlreadyUploaded)


async def _quiet(call: Awaitable[_T]) -> _T | None:
    """A node's answer, or None when it fails (an unreachable node is a node without the file)."""
    try:
        return await call
    except (StorageProtocolError, ValueError, KeyError, TypeError):
        return None
