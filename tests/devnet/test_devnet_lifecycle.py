"""Starting and stopping the devnet: state file, services, CLI, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from web3 import Web3

from devnet import A0GI, Devnet, DevnetConfig, DevnetState
from devnet.paths import REPO_ROOT
from devnet.state import JSONValue

START_TIMEOUT_S = 120  # generous: the first start in a fresh clone compiles the contracts


def _gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie waiting for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _children() -> set[int]:
    """Our live child processes (anvil is one while a devnet runs in this process)."""
    me, children = str(os.getpid()), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            if fields[1] == me and fields[0] != "Z":
                children.add(int(entry))
    return children


def _wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


class RecordingService:
    """A real (tiny) DevnetService: publishes what it saw and records the stop order."""

    def __init__(self, name: str, stops: list[str]) -> None:
        self.name = name
        self._stops = stops

    def start(self, state: DevnetState) -> RecordingService:
        self._seen = sorted(state.services)
        return self

    def info(self) -> Mapping[str, JSONValue]:
        return {"saw_services": list(self._seen)}

    def stop(self) -> None:
        self._stops.append(self.name)


class FailingService:
    name = "broken"

    def start(self, state: DevnetState) -> RecordingService:
        raise RuntimeError("cannot start")


def test_devnet_writes_state_funds_wallets_and_stops_cleanly(tmp_path: Path) -> None:
    state_path = tmp_path / "devnet.json"
    stops: list[str] = []
    services = [RecordingService("first", stops), RecordingService("second", stops)]
    config = DevnetConfig(state_path=state_path, wallet_count=2, wallet_balance=5 * A0GI)

    with Devnet.start(config, services) as net:
        pid = net.anvil.pid
        assert DevnetState.load(state_path) == net.state
        raw = json.loads(state_path.read_text())
        assert raw["services"] == {
            "first": {"saw_services": []},
            "second": {"saw_services": ["first"]},
        }
        assert raw["compute"]["inference_service_name"] == "inference-v1.0"
        assert raw["storage"]["price_per_sector"] == str(config.price_per_sector)
        w3 = Web3(Web3.HTTPProvider(raw["rpc_url"]))
        assert w3.eth.chain_id == raw["chain_id"] == 31337
        assert [w3.eth.get_balance(w["address"]) for w in raw["wallets"]] == [5 * A0GI] * 2

    assert stops == ["second", "first"]
    assert _gone(pid)
    assert not state_path.exists()


def test_a_failing_service_stops_everything_started_before_it(tmp_path: Path) -> None:
    stops: list[str] = []
    config = DevnetConfig(state_path=tmp_path / "devnet.json", wallet_count=1)
    before = _children()

    with pytest.raises(RuntimeError, match="cannot start"):
        Devnet.launch(config, [RecordingService("ok", stops), FailingService()])

    assert stops == ["ok"]
    assert not (tmp_path / "devnet.json").exists()
    assert _children() == before


def _start_cli(state_path: Path, output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "devnet", "--state", str(state_path), "--wallets", "1"],
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _anvil_pid_when_ready(cli: subprocess.Popen[bytes], state_path: Path, output: Path) -> int:
    ready = _wait_until(lambda: "Ctrl-C" in output.read_text(), START_TIMEOUT_S)
    assert ready, f"CLI not ready (exit {cli.poll()}): {output.read_text()}"
    pid: int = json.loads(state_path.read_text())["anvil_pid"]
    return pid


def test_cli_serves_until_sigterm_then_leaves_nothing(tmp_path: Path) -> None:
    state_path, output = tmp_path / "devnet.json", tmp_path / "out.txt"
    cli = _start_cli(state_path, output)
    try:
        anvil_pid = _anvil_pid_when_ready(cli, state_path, output)
        state = DevnetState.load(state_path)
        assert Web3(Web3.HTTPProvider(state.rpc_url)).eth.chain_id == 31337
        assert state.contracts.flow in output.read_text()

        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=30) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert _gone(anvil_pid)
    assert not state_path.exists()
    assert "devnet stopped" in output.read_text()


def test_anvil_dies_when_the_launcher_is_killed(tmp_path: Path) -> None:
    state_path, output = tmp_path / "devnet.json", tmp_path / "out.txt"
    cli = _start_cli(state_path, output)
    try:
        anvil_pid = _anvil_pid_when_ready(cli, state_path, output)
        cli.kill()  # SIGKILL: no handler, no cleanup code runs in the launcher
    finally:
        cli.wait()
    assert _wait_until(lambda: _gone(anvil_pid), 5), "anvil outlived its launcher"
