"""Python API: start storage nodes and indexers as child processes, and the devnet service."""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import httpx

from devnet.process import spawn, terminate
from devnet.state import DevnetState, JSONValue
from zerog_storage._hex import to_hex

# Only how long a start that went wrong takes to report: a container on a busy 2-core machine
# took over 30 s to import web3 and register (docker-compose, tests/containers).
_READY_TIMEOUT = 120.0


class StartFailed(RuntimeError):
    """A node or indexer process exited or stayed silent instead of announcing its URL."""


def _await_ready(process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if selector.select(_READY_TIMEOUT):
            line = process.stdout.readline()
            if line:
                return dict(json.loads(line))
    terminate(process)
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise StartFailed(f"process {process.args!r} did not start:\n{tail}")


def _spawn(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return spawn(
            [sys.executable, "-m", "devnet.storage_node", *args],
            stdout=subprocess.PIPE,
            stderr=log_file,
        )


@dataclass(frozen=True)
class NodeOptions:
    """How to start a node. `flow=None` follows the devnet's Flow; ports 0 pick free ones."""

    shard_id: int = 0
    num_shard: int = 1
    flow: str | None = None
    max_writes: int = 16
    port: int = 0
    admin_port: int = 0
    host: str = "127.0.0.1"
    """Bind address."""
    advertise_host: str | None = None
    """Host name in the node's announced URLs (None: `host`)."""


@dataclass(frozen=True)
class IndexerOptions:
    """Where the indexer listens (port 0: a free one) and the host name it announces."""

    host: str = "127.0.0.1"
    port: int = 0
    advertise_host: str | None = None


@dataclass
class StorageNodeProcess:
    """A running node: its URLs, data directory and test knobs (through its admin port)."""

    rpc_url: str
    flow: str
    data_dir: Path
    options: NodeOptions
    url: str = ""
    admin_url: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> StorageNodeProcess:
        """Start the process (again, on the same ports once it has run) and wait until ready."""
        return self.launch().wait_ready()

    def launch(self) -> StorageNodeProcess:
        """Start the process without waiting (several nodes boot in parallel)."""
        o = self.options
        args = [
            "node",
            f"--rpc-url={self.rpc_url}",
            f"--flow={self.flow}",
            f"--data-dir={self.data_dir}",
            f"--shard-id={o.shard_id}",
            f"--num-shard={o.num_shard}",
            f"--max-writes={o.max_writes}",
            f"--port={o.port}",
            f"--admin-port={o.admin_port}",
            f"--host={o.host}",
            *([f"--advertise-host={o.advertise_host}"] if o.advertise_host else []),
        ]
        self.process = _spawn(args, self.data_dir / "node.log")
        return self

    def wait_ready(self) -> StorageNodeProcess:
        """Wait for the node's ready line: listening, first log sync done."""
        assert self.process is not None
        ready = _await_ready(self.process, self.data_dir / "node.log")
        self.url, self.admin_url = str(ready["url"]), str(ready["admin_url"])
        # A restart keeps the URLs that indexers and clients already hold.
        self.options = replace(self.options, port=_port(self.url), admin_port=_port(self.admin_url))
        return self

    def stop(self) -> None:
        """SIGTERM (the node closes its database cleanly), SIGKILL if it lingers."""
        if self.process is not None:
            terminate(self.process)
            _close(self.process.stdout)
            self.process = None

    def restart(self) -> None:
        """Stop and start over the same data directory and ports."""
        self.stop()
        self.start()

    def info(self) -> dict[str, JSONValue]:
        """What the devnet state file publishes for this node."""
        return {
            "url": self.url,
            "admin_url": self.admin_url,
            "shard_id": self.options.shard_id,
            "num_shard": self.options.num_shard,
        }

    def admin(self, method: str, *params: Any) -> Any:
        """Call an admin_* method on the node's admin port."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(self.admin_url, json=body, timeout=10.0).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def set_faults(self, *, outage: bool | None = None, hold_writes: bool | None = None) -> Any:
        """Outage: the public port answers 503. hold_writes: segment writes wait."""
        changes: dict[str, bool] = {}
        if outage is not None:
            changes["outage"] = outage
        if hold_writes is not None:
            changes["holdWrites"] = hold_writes
        return self.admin("admin_setFaults", changes)

    def corrupt_segment(self, root: bytes, index: int) -> bool:
        """Flip a byte of a stored segment: the node then serves it with the original proof."""
        return bool(self.admin("admin_corruptSegment", to_hex(root), index))

    def lose_file(self, root: bytes, *, forget_tx: bool = False) -> bool:
        """Drop a file's data (and with forget_tx, its tx): the node that lost a file."""
        return bool(self.admin("admin_loseFile", to_hex(root), forget_tx))

    def sync_height(self) -> int:
        """Last block whose Submit logs the node has read."""
        return int(self.admin("admin_syncHeight")["height"])


@dataclass
class IndexerProcess:
    """A running indexer over a list of trusted node URLs."""

    node_urls: list[str]
    log_path: Path
    url: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    advertise_host: str | None = None

    def start(self) -> IndexerProcess:
        """Start and wait until it listens."""
        return self.launch().wait_ready()

    def launch(self) -> IndexerProcess:
        """Start the process without waiting."""
        args = [
            "indexer",
            *(f"--node={u}" for u in self.node_urls),
            f"--host={self.host}",
            f"--port={self.port}",
            *([f"--advertise-host={self.advertise_host}"] if self.advertise_host else []),
        ]
        self.process = _spawn(args, self.log_path)
        return self

    def wait_ready(self) -> IndexerProcess:
        """Wait until it listens."""
        assert self.process is not None
        self.url = str(_await_ready(self.process, self.log_path)["url"])
        return self

    def add_node(self, url: str) -> None:
        """Trust one more node."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "admin_addNode", "params": [url]}
        answer = httpx.post(self.url, json=body, timeout=10.0).json()
        if "error" in answer:
            raise RuntimeError(f"admin_addNode: {answer['error']}")
        self.node_urls.append(url)

    def stop(self) -> None:
        """Stop the process."""
        if self.process is not None:
            terminate(self.process)
            _close(self.process.stdout)
            self.process = None


def start_storage_node(
    state: DevnetState, data_dir: Path, options: NodeOptions = NodeOptions()
) -> StorageNodeProcess:
    """Start a node following `options.flow` (default: the devnet's Flow) on the devnet chain."""
    flow = options.flow or state.contracts.flow
    return StorageNodeProcess(state.rpc_url, flow, data_dir, options).start()


def start_indexer(node_urls: Sequence[str], log_path: Path) -> IndexerProcess:
    """Start an indexer trusting `node_urls`."""
    return IndexerProcess(list(node_urls), log_path).start()


@dataclass
class StorageNetwork:
    """Nodes and one indexer over them: what the devnet service publishes."""

    nodes: list[StorageNodeProcess]
    indexer: IndexerProcess
    work_dir: Path | None = None
    """Removed on stop when the network created it."""

    def info(self) -> Mapping[str, JSONValue]:
        """{"nodes": [{url, admin_url, shard_id, num_shard}], "indexer": url}."""
        return {"nodes": [n.info() for n in self.nodes], "indexer": self.indexer.url}

    def stop(self) -> None:
        """Stop the indexer and every node (idempotent)."""
        self.indexer.stop()
        for node in reversed(self.nodes):
            node.stop()
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None


def start_storage_network(
    state: DevnetState,
    shards: Sequence[NodeOptions] = (NodeOptions(),),
    work_dir: Path | None = None,
    indexer_options: IndexerOptions | None = None,
) -> StorageNetwork:
    """Start one node per entry of `shards` and an indexer trusting them all."""
    owned = work_dir is None
    base = Path(tempfile.mkdtemp(prefix="zg-storage-")) if work_dir is None else work_dir
    io = indexer_options or IndexerOptions()
    indexer = IndexerProcess(
        [], base / "indexer.log", host=io.host, port=io.port, advertise_host=io.advertise_host
    )
    nodes = [
        StorageNodeProcess(state.rpc_url, o.flow or state.contracts.flow, base / f"node-{i}", o)
        for i, o in enumerate(shards)
    ]
    try:
        # Every process boots at once (Python start-up dominates); the indexer learns the
        # node URLs once they are known.
        indexer.launch()
        for node in nodes:
            node.launch()
        indexer.wait_ready()
        for node in nodes:
            indexer.add_node(node.wait_ready().url)
    except BaseException:
        indexer.stop()
        for node in nodes:
            node.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)
        raise
    return StorageNetwork(nodes, indexer, base if owned else None)


@dataclass(frozen=True)
class StorageNodeService:
    """DevnetService: one storage node (all shards) and an indexer, published as `storage`."""

    name: str = "storage"
    shards: tuple[NodeOptions, ...] = (NodeOptions(),)
    indexer: IndexerOptions = field(default_factory=lambda: IndexerOptions())

    def start(self, state: DevnetState) -> StorageNetwork:
        """Start the nodes and the indexer against the running chain."""
        return start_storage_network(state, self.shards, indexer_options=self.indexer)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()
