"""Devnet storage node + indexer: the real node's JSON-RPC, checks and messages, on one machine."""

from devnet.storage_node.launcher import (
    IndexerOptions,
    IndexerProcess,
    NodeOptions,
    StartFailed,
    StorageNetwork,
    StorageNodeProcess,
    StorageNodeService,
    start_indexer,
    start_storage_network,
    start_storage_node,
)

__all__ = [
    "IndexerOptions",
    "IndexerProcess",
    "NodeOptions",
    "StartFailed",
    "StorageNetwork",
    "StorageNodeProcess",
    "StorageNodeService",
    "start_indexer",
    "start_storage_network",
    "start_storage_node",
]
