"""Provider child processes: launch (fund, spawn, wait for ready, owner acknowledges the TEE
signer), drive through /admin, stop. What tests and the devnet launcher use."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from devnet.contracts import contract
from devnet.deploy import Transactor
from devnet.process import spawn, terminate
from devnet.state import DevnetState, JSONValue
from devnet.wallets import A0GI
from zerog_signing import keccak256

# Only how long a start that went wrong takes to report: a container on a busy 2-core machine
# took over 30 s to import web3 and register (docker-compose, tests/containers).
READY_TIMEOUT = 120.0
PROVIDER_FUNDS = 1_000 * A0GI
"""What a provider wallet holds: the 100 A0GI stake plus gas for a long devnet session."""


class ProviderStartError(RuntimeError):
    """A provider process exited or stayed silent before announcing it was ready."""


def derived_key(label: str) -> str:
    """A deterministic devnet key (stable addresses across runs); never for real funds."""
    return "0x" + keccak256(f"zerog-devnet-{label}".encode()).hex()


@dataclass(frozen=True)
class ProviderSpec:
    """How to start one provider. Keys default to fresh random ones."""

    model: str = "zerog-devnet-echo"
    knobs: Mapping[str, Any] = field(default_factory=dict)
    settle_interval: float = 30.0
    private_key: str | None = field(default=None, repr=False)
    tee_key: str | None = field(default=None, repr=False)
    port: int = 0
    host: str = "127.0.0.1"
    """Bind address."""
    advertise_host: str | None = None
    """Host name in the URL registered on chain and published (None: `host`)."""


@dataclass
class ProviderProcess:
    """A running provider child process (a devnet.services.ServiceHandle)."""

    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    log_path: str

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def provider(self) -> str:
        return str(self.ready["provider"])

    @property
    def tee_signer(self) -> str:
        return str(self.ready["tee_signer"])

    def info(self) -> dict[str, JSONValue]:
        """Published in the state file: url, provider, model, tee_signer, admin url, pid."""
        return {
            "url": self.url,
            "provider": self.provider,
            "model": str(self.ready["model"]),
            "tee_signer": self.tee_signer,
            "admin": f"{self.url}/admin",
            "pid": self.process.pid,
        }

    def set_knobs(self, **changes: Any) -> dict[str, Any]:
        """POST /admin/knobs; returns the provider's status. Prices are re-registered."""
        response = httpx.post(f"{self.url}/admin/knobs", json=changes, timeout=60)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def status(self) -> dict[str, Any]:
        """GET /admin/knobs: knobs, unsettled and settled fees per user."""
        result: dict[str, Any] = httpx.get(f"{self.url}/admin/knobs", timeout=30).json()
        return result

    def settle(self) -> list[dict[str, Any]]:
        """POST /admin/settle: settles now, returns each user's on-chain outcome."""
        response = httpx.post(f"{self.url}/admin/settle", timeout=60)
        response.raise_for_status()
        outcomes: list[dict[str, Any]] = response.json()["outcomes"]
        return outcomes

    def stop(self) -> None:
        terminate(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)


def _spawn(state: DevnetState, spec: ProviderSpec) -> tuple[subprocess.Popen[bytes], str, str]:
    key = spec.private_key or "0x" + bytes(Account.create().key).hex()
    tee_key = spec.tee_key or "0x" + bytes(Account.create().key).hex()
    w3 = Web3(Web3.HTTPProvider(state.rpc_url))
    address = Account.from_key(key).address
    if w3.eth.get_balance(address) < PROVIDER_FUNDS // 2:
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(PROVIDER_FUNDS)])
    args = [
        sys.executable,
        "-m",
        "devnet.provider",
        "--rpc-url",
        state.rpc_url,
        "--chain-id",
        str(state.chain_id),
        "--inference",
        state.contracts.inference_serving,
        "--model",
        spec.model,
        "--host",
        spec.host,
        "--port",
        str(spec.port),
        "--settle-interval",
        str(spec.settle_interval),
        "--knobs",
        json.dumps(dict(spec.knobs)),
    ]
    if spec.advertise_host:
        args += ["--advertise-host", spec.advertise_host]
    env = {**os.environ, "PROVIDER_PRIVATE_KEY": key, "PROVIDER_TEE_KEY": tee_key}
    # The child's stderr goes to a file, so a failed start can show why.
    with tempfile.NamedTemporaryFile(prefix="devnet-provider-", suffix=".log", delete=False) as log:
        process = spawn(args, stdout=subprocess.PIPE, stderr=log, env=env)
    return process, log.name, address


def _wait_ready(process: subprocess.Popen[bytes], log_path: str) -> dict[str, Any]:
    stdout: IO[bytes] | None = process.stdout
    assert stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        readable, _, _ = select.select([stdout], [], [], 0.05)
        if readable:
            line = stdout.readline()
            if line:
                ready: dict[str, Any] = json.loads(line)
                return ready
        if process.poll() is not None:
            break
    terminate(process)
    with open(log_path, errors="replace") as f:
        tail = f.read()[-2000:]
    raise ProviderStartError(f"devnet provider did not start:\n{tail}")


def acknowledge_tee_signer(state: DevnetState, owner: Transactor, provider: str) -> None:
    """The contract owner vouches for the provider's TEE signer, as on the real network."""
    serving = contract(owner.w3, "InferenceServing", state.contracts.inference_serving)
    if not serving.functions.getService(provider).call()[10]:
        owner.transact(serving.functions.acknowledgeTEESignerByOwner(provider))


def launch_providers(
    state: DevnetState, specs: Sequence[ProviderSpec], owner: Transactor | None = None
) -> list[ProviderProcess]:
    """Starts providers in parallel, waits until each is registered, acknowledges them."""
    if owner is None:
        owner = Transactor(Web3(Web3.HTTPProvider(state.rpc_url)), state.deployer.account())
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    handles: list[ProviderProcess] = []
    try:
        for spec in specs:
            process, log_path, _ = _spawn(state, spec)
            started.append((process, log_path))
        for process, log_path in started:
            handles.append(ProviderProcess(process, _wait_ready(process, log_path), log_path))
        for handle in handles:
            acknowledge_tee_signer(state, owner, handle.provider)
    except BaseException:
        for process, _ in started:
            terminate(process)
            if process.stdout is not None:
                process.stdout.close()
        raise
    return handles


def launch_provider(
    state: DevnetState, spec: ProviderSpec | None = None, owner: Transactor | None = None
) -> ProviderProcess:
    """One provider; see launch_providers."""
    return launch_providers(state, [spec or ProviderSpec()], owner)[0]
