"""`python -m devnet --advertise-host` (and fixed ports): the state file and the chain carry URLs
with the advertised host name, and every service answers on them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from web3 import Web3

from devnet import DevnetState
from devnet.contracts import contract

REPO_ROOT = Path(__file__).parents[2]
START_TIMEOUT_S = 120.0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _rpc(url: str, method: str, *params: object) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = httpx.post(url, json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


def test_advertised_host_and_fixed_ports(tmp_path: Path) -> None:
    state_path, output = tmp_path / "devnet.json", tmp_path / "out.txt"
    anvil, provider, storage, indexer = _free_ports(4)
    args = [
        sys.executable, "-m", "devnet", "--state", str(state_path), "--wallets", "1",
        "--providers", "1", "--advertise-host", "localhost", "--port", str(anvil),
        "--provider-base-port", str(provider), "--storage-port", str(storage),
        "--indexer-port", str(indexer),
    ]  # fmt: skip
    with output.open("wb") as sink:
        cli = subprocess.Popen(args, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ctrl-C" not in output.read_text() and cli.poll() is None:
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        assert cli.poll() is None, output.read_text()
        state = DevnetState.load(state_path)
        raw = json.loads(state_path.read_text())

        assert state.rpc_url == f"http://localhost:{anvil}"
        assert Web3(Web3.HTTPProvider(state.rpc_url)).eth.chain_id == state.chain_id

        (published,) = raw["services"]["providers"]["providers"]
        assert published["url"] == f"http://localhost:{provider}"
        models = httpx.get(f"{published['url']}/v1/models", timeout=10)
        assert models.status_code == 200 and models.json()["data"][0]["id"] == published["model"]
        serving = contract(
            Web3(Web3.HTTPProvider(state.rpc_url)),
            "InferenceServing",
            state.contracts.inference_serving,
        )
        # What a client discovers on chain is the advertised URL too.
        assert serving.functions.getService(published["provider"]).call()[2] == published["url"]

        nodes, indexer_url = (
            raw["services"]["storage"]["nodes"],
            raw["services"]["storage"]["indexer"],
        )
        assert nodes[0]["url"] == f"http://localhost:{storage}"
        assert nodes[0]["admin_url"].startswith("http://localhost:")
        assert indexer_url == f"http://localhost:{indexer}"
        status = _rpc(nodes[0]["url"], "zgs_getStatus")
        assert isinstance(status, dict) and "networkIdentity" in status
        sharded = _rpc(indexer_url, "indexer_getShardedNodes")
        assert isinstance(sharded, dict)
        assert [n["url"] for n in sharded["trusted"]] == [nodes[0]["url"]]

        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert not state_path.exists()


def test_a_wildcard_bind_needs_an_advertised_host(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devnet", "--state", str(tmp_path / "s.json"), "--host", "0.0.0.0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--advertise-host" in done.stderr
