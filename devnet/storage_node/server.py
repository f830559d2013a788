"""Run a devnet storage node: public JSON-RPC port, admin port, log sync, data directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web

from devnet.storage_node.jsonrpc import JsonRpcApp
from devnet.storage_node.methods import NodeMethods
from devnet.storage_node.node import MAX_WRITES, StorageNodeCore
from devnet.storage_node.store import NodeStore
from devnet.storage_node.sync import EthRpc, LogSync
from zerog_storage import NetworkIdentity, ShardConfig

log = logging.getLogger(__name__)

# The real node's p2p protocol version reported in networkIdentity.
P2P_PROTOCOL_VERSION = (0, 4, 0)


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node process needs; ports 0 pick free ones."""

    rpc_url: str
    flow_address: str
    data_dir: Path
    shard: ShardConfig = field(default_factory=lambda: ShardConfig(0, 1))
    host: str = "127.0.0.1"
    port: int = 0
    admin_port: int = 0
    advertise_host: str | None = None
    """Host name in the URLs the node announces (None: `host`)."""
    confirmations: int = 1
    poll_interval: float = 0.1
    max_writes: int = MAX_WRITES


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0: a free port); returns the runner and the bound port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])


async def serve(config: NodeConfig, ready: asyncio.Event | None = None) -> None:
    """Run until cancelled; prints one JSON line {url, admin_url} once synced and listening."""
    store = NodeStore(config.data_dir)
    core = StorageNodeCore(store, config.shard, max_writes=config.max_writes)
    async with httpx.AsyncClient(timeout=10.0) as http:
        eth = EthRpc(config.rpc_url, http)
        synced = store.get_meta("sync_height")
        sync = LogSync(
            eth,
            config.flow_address,
            core.add_tx,
            start_block=int(synced) + 1 if synced else 0,
            confirmations=config.confirmations,
        )
        sync.block_hash = store.get_meta("sync_block") or sync.block_hash

        def saved() -> None:
            store.set_meta("sync_height", str(sync.height))
            store.set_meta("sync_block", sync.block_hash)

        if await sync.step():
            saved()
        identity = NetworkIdentity(await eth.chain_id(), config.flow_address, P2P_PROTOCOL_VERSION)
        methods = NodeMethods(core, sync, identity)
        public, port = await listen(
            JsonRpcApp(methods.public(), methods.gate).application(), config.host, config.port
        )
        admin, admin_port = await listen(
            JsonRpcApp(methods.admin()).application(), config.host, config.admin_port
        )
        print(
            json.dumps(
                {
                    "url": f"http://{config.advertise_host or config.host}:{port}",
                    "admin_url": f"http://{config.advertise_host or config.host}:{admin_port}",
                }
            ),
            flush=True,
        )
        if ready is not None:
            ready.set()
        try:
            await sync.run(config.poll_interval, saved)
        finally:
            await public.cleanup()
            await admin.cleanup()
            store.close()


def run_until_signal(config: NodeConfig) -> None:
    """Serve until SIGTERM/SIGINT, then close ports and the database cleanly."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )

    async def main() -> None:
        task = asyncio.create_task(serve(config))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
