"""Storage client plumbing: the node set, replica selection and the Flow `Submitter` seam."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from zerog_storage.client_errors import NodesUnavailable, NotEnoughReplicas
from zerog_storage.downloader_rpc import NodeReader
from zerog_storage.errors import StorageProtocolError
from zerog_storage.models import ShardConfig, ShardedNodes
from zerog_storage.resilience import Breakers
from zerog_storage.rpc import StorageNodeClient
from zerog_storage.submission import SubmissionData

__all__ = [
    "NodeSet",
    "StorageNode",
    "SubmitResult",
    "Submitter",
    "replica_capacity",
    "select_nodes",
]


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """A paid Flow submission: its tx seq (submissionIndex), hash and the fee paid in neuron."""

    tx_seq: int
    tx_hash: str
    fee: int
    replayed: bool = False


class Submitter(Protocol):
    """Pays one Flow submission; the same request_id must never pay twice."""

    async def submit(
        self, request_id: str, submission: SubmissionData, max_fee: int | None
    ) -> SubmitResult:
        """Send (or replay) the submission and return its tx seq once mined."""
        ...


@dataclass(frozen=True, slots=True)
class StorageNode:
    """A reachable storage node and the shard it stores."""

    url: str
    client: StorageNodeClient
    shard: ShardConfig

    def holds(self, global_segment: int) -> bool:
        """Whether this node stores flow segment `global_segment`."""
        return self.shard.holds(global_segment)


def _classes(nodes: Sequence[StorageNode]) -> int:
    return max((n.shard.num_shard for n in nodes), default=1)


def replica_capacity(nodes: Sequence[StorageNode]) -> int:
    """The most copies of every segment these nodes can hold together (0 if a shard is missing)."""
    if not nodes:
        return 0
    width = _classes(nodes)
    return min(sum(1 for n in nodes if n.holds(c)) for c in range(width))


def select_nodes(nodes: Sequence[StorageNode], replicas: int) -> list[StorageNode]:
    """Nodes covering every segment `replicas` times; wide shards first, so fewer nodes are used."""
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    width = _classes(nodes)
    counts = [0] * width
    chosen = []
    for node in sorted(nodes, key=lambda n: (n.shard.num_shard, n.url)):
        covered = [c for c in range(width) if node.holds(c)]
        if any(counts[c] < replicas for c in covered):
            chosen.append(node)
            for c in covered:
                counts[c] += 1
    if min(counts, default=0) < replicas:
        raise NotEnoughReplicas(replicas, replica_capacity(nodes))
    return chosen


class NodeSet:
    """The storage nodes a client uses: fixed URLs and/or an indexer's trusted nodes."""

    def __init__(
        self,
        urls: Sequence[str] = (),
        *,
        indexer_url: str | None = None,
        timeout: float = 30.0,
        breakers: Breakers | None = None,
    ) -> None:
        if not urls and not indexer_url:
            raise ValueError("a node set needs node URLs or an indexer URL")
        self.breakers = breakers
        """Shared by the read and write paths, per URL (None: no breakers)."""
        self._urls = tuple(urls)
        self._indexer_url = indexer_url
        self._http = httpx.AsyncClient(timeout=timeout)
        self._clients: dict[str, StorageNodeClient] = {}
        self.reader = NodeReader(timeout, breakers)
        """The read path's calls (discovery, file info, segments): cheaper per call than httpx."""
        self._found: tuple[float, list[StorageNode]] | None = None

    async def aclose(self) -> None:
        """Close the shared HTTP clients."""
        await self._http.aclose()
        await self.reader.aclose()

    def client(self, url: str) -> StorageNodeClient:
        """The JSON-RPC client of one node URL (shared HTTP connections)."""
        if url not in self._clients:
            self._clients[url] = StorageNodeClient(url, http=self._http, breakers=self.breakers)
        return self._clients[url]

    async def _candidate_urls(self) -> list[str]:
        urls = list(self._urls)
        if self._indexer_url is not None:
            try:
                result = await self.reader.call(self._indexer_url, "indexer_getShardedNodes")
                listed = ShardedNodes.from_json(result)
            except (StorageProtocolError, ValueError, KeyError, TypeError, AttributeError):
                listed = None
            if listed is not None:
                urls.extend(n.url for n in listed.trusted if n.url not in urls)
        return urls

    async def _probe(self, url: str) -> StorageNode | None:
        try:
            shard = ShardConfig.from_json(await self.reader.call(url, "zgs_getShardConfig"))
        except (StorageProtocolError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return StorageNode(url, self.client(url), shard)

    async def discover(self, max_age: float = 0.0) -> list[StorageNode]:
        """Every node that answers its shard config; NodesUnavailable if none does.

        `max_age` > 0 reuses an answer that old at most (reads: a node missed there only
        costs a fresh discovery before DATA_LOSS is declared).
        """
        found = self._found
        if max_age > 0 and found is not None and time.monotonic() - found[0] <= max_age:
            return list(found[1])
        urls = await self._candidate_urls()
        probed = await asyncio.gather(*(self._probe(u) for u in urls))
        nodes = [n for n in probed if n is not None]
        if not nodes:
            self._found = None
            raise NodesUnavailable(f"no storage node answered (tried {len(urls)})")
        self._found = (time.monotonic(), nodes)
        return list(nodes)
