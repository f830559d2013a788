"""Repair: upload segments proven good on one replica to the nodes that lost or corrupted them."""

from __future__ import annotations

from dataclasses import dataclass

from zerog_storage.client import StorageNode
from zerog_storage.client_errors import TxMismatch
from zerog_storage.downloader import ReplicaReport
from zerog_storage.merkle import FileMerkleTree
from zerog_storage.uploader import Uploader

__all__ = ["RepairResult", "repair"]


@dataclass(frozen=True, slots=True)
class RepairResult:
    """How many segment copies were uploaded again, and to which nodes."""

    segments_restored: int
    nodes: tuple[str, ...]


async def repair(uploader: Uploader, report: ReplicaReport, replicas: int) -> RepairResult:
    """Bring every segment back to `replicas` good copies, reusing the paid tx (no new fee).

    Raises DataLost when some segment has no good copy left to copy from.
    """
    data = report.data()
    tree = FileMerkleTree.from_bytes(data)
    located = report.located
    if tree.root != located.tx.data_merkle_root:
        raise TxMismatch("good copies do not rebuild the recorded root")
    plan: dict[str, list[int]] = {}
    nodes: dict[str, StorageNode] = {n.url: n for n in located.nodes}
    for seg in report.segments:
        missing = replicas - len(seg.good)
        if missing <= 0:
            continue
        # Nodes that should hold the segment but failed are the ones to refill first.
        spare = [n for n in located.holders(seg.index) if n.url not in seg.good]
        spare.sort(key=lambda n: n.url not in seg.bad)
        for node in spare[:missing]:
            plan.setdefault(node.url, []).append(seg.index)
    for url, indexes in plan.items():
        await uploader.send_segments(nodes[url], located.tx.seq, tree, data, indexes)
    touched = [nodes[url] for url in plan]
    if touched:
        await uploader.wait_finalized(touched, located.tx.seq)
    return RepairResult(sum(len(v) for v in plan.values()), tuple(plan))
