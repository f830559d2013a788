"""A devnet indexer: indexer_getShardedNodes and indexer_getFileLocations over trusted nodes.

It asks its nodes live (shard config, file info), so it always tells the truth about the devnet:
a node in outage drops out of file locations, a node that lost a file is not listed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from devnet.storage_node.jsonrpc import Handler, JsonRpcApp, bad_params, hash_param, param
from devnet.storage_node.server import listen
from zerog_storage import ShardConfig, ShardedNode, StorageNodeClient, StorageProtocolError

log = logging.getLogger(__name__)

_NODE_TIMEOUT = 3.0


class Indexer:
    """The trusted node list and what the indexer knows about each node."""

    def __init__(self, node_urls: Sequence[str], http: httpx.AsyncClient) -> None:
        self._clients = [StorageNodeClient(url, http=http) for url in node_urls]
        self._configs: dict[str, ShardConfig] = {}
        self._since: dict[str, int] = {}

    def add_node(self, url: str, http: httpx.AsyncClient) -> None:
        """Trust one more node."""
        if all(c.url != url for c in self._clients):
            self._clients.append(StorageNodeClient(url, http=http))

    async def _probe(self, client: StorageNodeClient) -> ShardedNode | None:
        started = time.monotonic()
        try:
            config = await asyncio.wait_for(client.get_shard_config(), _NODE_TIMEOUT)
        except (StorageProtocolError, TimeoutError, ValueError, KeyError):
            # An unreachable node keeps its last known config, as a real indexer's list does.
            known = self._configs.get(client.url)
            if known is None:
                return None
            return ShardedNode(client.url, known, -1, self._since.get(client.url, 0))
        self._configs[client.url] = config
        self._since.setdefault(client.url, int(time.time()))
        latency = int((time.monotonic() - started) * 1000)
        return ShardedNode(client.url, config, latency, self._since[client.url])

    async def sharded_nodes(self) -> list[ShardedNode]:
        """Trusted nodes whose shard config is known."""
        probed = await asyncio.gather(*(self._probe(c) for c in self._clients))
        return [n for n in probed if n is not None]

    async def file_locations(self, root: bytes) -> list[ShardedNode]:
        """Nodes that report the file finalized."""
        nodes = await self.sharded_nodes()
        by_url = {c.url: c for c in self._clients}

        async def holds(node: ShardedNode) -> bool:
            try:
                info = await asyncio.wait_for(
                    by_url[node.url].get_file_info(root, True), _NODE_TIMEOUT
                )
            except (StorageProtocolError, TimeoutError, ValueError, KeyError):
                return False
            return info is not None and info.finalized

        found = await asyncio.gather(*(holds(n) for n in nodes))
        return [n for n, ok in zip(nodes, found, strict=True) if ok]


class IndexerMethods:
    """indexer_* handlers."""

    def __init__(self, indexer: Indexer, http: httpx.AsyncClient) -> None:
        self.indexer = indexer
        self.http = http

    def public(self) -> dict[str, Handler]:
        """The indexer's JSON-RPC methods, plus admin_addNode for tests."""
        return {
            "indexer_getShardedNodes": self.get_sharded_nodes,
            "indexer_getSelectedNodes": self.get_selected_nodes,
            "indexer_getFileLocations": self.get_file_locations,
            "indexer_getNodeLocations": self.get_node_locations,
            "admin_addNode": self.add_node,
        }

    async def get_sharded_nodes(self, params: list[Any]) -> dict[str, Any]:
        nodes = await self.indexer.sharded_nodes()
        return {"trusted": [n.to_json() for n in nodes], "discovered": []}

    async def get_selected_nodes(self, params: list[Any]) -> dict[str, Any]:
        dropped = set(param(params, 3, list, optional=True) or ())
        nodes = [n for n in await self.indexer.sharded_nodes() if n.url not in dropped]
        return {"trusted": [n.to_json() for n in nodes], "discovered": []}

    async def get_file_locations(self, params: list[Any]) -> list[dict[str, Any]] | None:
        nodes = await self.indexer.file_locations(hash_param(params, 0))
        return [n.to_json() for n in nodes] if nodes else None

    async def get_node_locations(self, params: list[Any]) -> dict[str, Any]:
        return {}

    async def add_node(self, params: list[Any]) -> bool:
        url = param(params, 0, str)
        if not url.startswith(("http://", "https://")):
            raise bad_params("argument 0: expected an http(s) URL")
        self.indexer.add_node(url, self.http)
        return True


async def serve_indexer(
    node_urls: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 0,
    advertise_host: str | None = None,
) -> None:
    """Run an indexer until cancelled; prints one JSON line {url} once listening."""
    async with httpx.AsyncClient(timeout=_NODE_TIMEOUT) as http:
        methods = IndexerMethods(Indexer(node_urls, http), http)
        runner, bound = await listen(JsonRpcApp(methods.public()).application(), host, port)
        print(json.dumps({"url": f"http://{advertise_host or host}:{bound}"}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def run_indexer_until_signal(
    node_urls: Sequence[str], host: str, port: int, advertise_host: str | None = None
) -> None:
    """Serve until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    async def main() -> None:
        task = asyncio.create_task(serve_indexer(node_urls, host, port, advertise_host))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
