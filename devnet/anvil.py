"""Runs anvil as a child process and waits until it answers with the expected chain id."""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devnet.paths import anvil_binary
from devnet.process import spawn, terminate

# Foundry's and Hardhat's default mnemonic: its keys are public knowledge, which is the point
# on a devnet (and a reason never to reuse them elsewhere).
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
_READY_TIMEOUT_S = 15.0
_PORT_ATTEMPTS = 3


class AnvilError(RuntimeError):
    """anvil did not start, or stopped answering."""


@dataclass(frozen=True)
class AnvilConfig:
    """How to run anvil. `port=None` picks a free port."""

    chain_id: int = 31337
    mnemonic: str = DEFAULT_MNEMONIC
    accounts: int = 11
    balance_a0gi: int = 10_000
    port: int | None = None
    host: str = "127.0.0.1"
    """Bind address."""
    advertise_host: str | None = None
    """Host name in the published RPC URL (None: `host`), e.g. a container's DNS name."""
    binary: Path | None = None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _chain_id(rpc_url: str) -> int | None:
    """eth_chainId over plain HTTP, or None if nothing answers yet."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        rpc_url, body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            return int(json.load(response)["result"], 16)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def local_host(bind: str) -> str:
    """How to reach a server bound to `bind` from this machine (a wildcard is loopback)."""
    return "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind


class Anvil:
    """A running anvil. Use `Anvil.start(config)`, then `stop()` (idempotent)."""

    def __init__(
        self, process: subprocess.Popen[bytes], rpc_url: str, log: IO[bytes], local_url: str = ""
    ) -> None:
        self._process = process
        self._log = log
        self.rpc_url = rpc_url
        """The advertised URL (what the state file publishes)."""
        self.local_url = local_url or rpc_url
        """How this machine reaches anvil (the launcher deploys and probes through it)."""

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    def start(cls, config: AnvilConfig) -> Anvil:
        """Starts anvil and returns once it answers eth_chainId with the configured chain id."""
        attempts = 1 if config.port is not None else _PORT_ATTEMPTS
        for attempt in range(attempts):
            port = config.port if config.port is not None else _free_port(config.host)
            anvil = cls._spawn(config, port)
            try:
                anvil._wait_ready(config.chain_id)
            except AnvilError:
                anvil.stop()
                # Another process may have taken the port between our probe and anvil's bind.
                if attempt + 1 < attempts:
                    continue
                raise
            return anvil
        raise AssertionError("unreachable")

    @classmethod
    def _spawn(cls, config: AnvilConfig, port: int) -> Anvil:
        binary = config.binary or anvil_binary()
        if not binary.exists():
            raise AnvilError(f"anvil not found at {binary}: run `npm ci` in the repository root")
        args = [
            str(binary),
            "--silent",
            "--host", config.host,
            "--port", str(port),
            "--chain-id", str(config.chain_id),
            "--mnemonic", config.mnemonic,
            "--accounts", str(config.accounts),
            "--balance", str(config.balance_a0gi),
        ]  # fmt: skip
        # anvil's stderr, read only to explain a failed start; closed by stop().
        log = tempfile.TemporaryFile()  # noqa: SIM115
        process = spawn(args, stderr=log)
        advertised = config.advertise_host or config.host
        return cls(
            process, f"http://{advertised}:{port}", log, f"http://{local_host(config.host)}:{port}"
        )

    def _wait_ready(self, chain_id: int) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AnvilError(f"anvil exited with {self._process.returncode}: {self._stderr()}")
            answered = _chain_id(self.local_url)
            # Alive after answering: else another node on that port answered, not ours.
            if answered is not None and self._process.poll() is None:
                if answered != chain_id:
                    raise AnvilError(f"{self.rpc_url} answers chain id {answered}, not {chain_id}")
                return
            time.sleep(0.02)
        raise AnvilError(f"anvil did not answer on {self.rpc_url} within {_READY_TIMEOUT_S} s")

    def _stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-2000:]

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stops anvil (SIGTERM, then SIGKILL after `timeout` s) and reaps it; idempotent."""
        terminate(self._process, timeout)
        self._log.close()
