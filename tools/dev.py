"""`make dev`: PostgreSQL, the devnet and every service, with addresses, a token and what to try.

Each service runs as `python -m services.<svc>` (as in production) with the environment its
config.py reads; ports are free ones unless `<SVC>_PORT` is set. Ctrl-C (or SIGTERM) stops
everything in reverse order and removes the throwaway database and chain.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devnet.process import dies_with_parent
from devnet.state import DevnetState
from zerog.broker.v1 import broker_service_pb2 as broker_pb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_db.cluster import TempCluster, free_port
from zerog_grpc.tokens import SigningKey, mint_token

ROOT = Path(__file__).resolve().parent.parent
# Dependencies first: each service finds the ones it calls already serving.
ORDER = ("quota", "broker", "storage", "inference", "scheduler")
# The ports docker compose publishes, so docs/grpcurl.md works verbatim against either stack.
COMPOSE_PORTS = {
    "quota": 50051,
    "broker": 50052,
    "inference": 50053,
    "storage": 50054,
    "scheduler": 50055,
}
# Inference's OpenAI-compatible HTTP endpoint, also where compose publishes it.
COMPOSE_HTTP_PORT = 8080
# The development-only keys docker compose mounts (docs/operations.md's token() reads them):
# the JWKS every service checks with, and the private keys of the callers it publishes.
DEV_SECRETS = ROOT / "deploy" / "compose" / "secrets"
DEV_JWKS = DEV_SECRETS / "jwks.json"
DEV_KEYS = DEV_SECRETS / "auth_keys"
# Storage's development-only master key (wraps its namespaces' data keys), also compose's.
DEV_MASTER_KEY_FILE = DEV_SECRETS / "storage_master_key"
LEDGER_DEPOSIT_NEURON = str(100 * 10**18)
READY_LINE = "Ctrl-C or SIGTERM stops it."
TOKEN_HOURS = 12


@dataclass
class Service:
    """One service of the stack and where it listens."""

    name: str
    port: int
    metrics_port: int
    http_port: int = 0
    """Inference's OpenAI-compatible endpoint (HTTP_PORT); 0 for the other services."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def present_services(*, free_ports: bool = False) -> list[Service]:
    """The services this checkout has, on `<SVC>_PORT`, else compose's port, else a free one
    (always a free one with `free_ports`, as tests want)."""
    services = [
        Service(name, _test_port() if free_ports else _chosen_port(name), free_port())
        for name in ORDER
        if (ROOT / "services" / name / "__main__.py").exists()
    ]
    for service in services:
        if service.name == "inference":
            # Not shared either: a second stack's inference would fail to bind 8080 and exit.
            chosen = os.environ.get("INFERENCE_HTTP_PORT")
            service.http_port = (
                _test_port() if free_ports else int(chosen or _free_or_other(COMPOSE_HTTP_PORT))
            )
    return services


def _test_port() -> int:
    """A free port other than compose's: gRPC binds with SO_REUSEPORT, so a test stack on
    50052 would silently share it with a `make dev` that probed 50052 free a moment before."""
    while (port := free_port()) in (*COMPOSE_PORTS.values(), COMPOSE_HTTP_PORT):
        pass
    return port


def _chosen_port(name: str) -> int:
    return int(os.environ.get(f"{name.upper()}_PORT") or _free_or_other(COMPOSE_PORTS[name]))


def _free_or_other(port: int) -> int:
    """`port` if nothing listens there, else a free one."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


@dataclass(frozen=True)
class RunningDevnet:
    """The devnet's state and the file it was read from (what services get as DEVNET_STATE)."""

    path: Path
    state: DevnetState


@contextmanager
def running_devnet(directory: Path) -> Iterator[RunningDevnet]:
    """`python -m devnet` with its state file in `directory`, until the context ends."""
    state_path = directory / "devnet.json"
    process = subprocess.Popen(
        dies_with_parent([sys.executable, "-m", "devnet", "--state", str(state_path)]),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip() == READY_LINE:
                break
        else:
            raise SystemExit(f"dev: the devnet exited with {process.wait()} before it was ready")
        yield RunningDevnet(state_path, DevnetState.load(state_path))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def service_env(
    service: Service, stack: list[Service], database_url: str, devnet: Path
) -> dict[str, str]:
    """The environment of one service: shared names from the deployment conventions."""
    env = {
        **os.environ,
        "PORT": str(service.port),
        "METRICS_PORT": str(service.metrics_port),
        "DATABASE_URL": database_url,
        "AUTH_JWKS_FILE": str(DEV_JWKS),
        "ZG_NETWORK": "devnet",
        "DEVNET_STATE": str(devnet),
        **{f"{other.name.upper()}_ADDRESS": other.address for other in stack},
    }
    if service.http_port:
        env["HTTP_PORT"] = str(service.http_port)
    if (own_key := DEV_KEYS / f"{service.name}.pem").exists():  # it calls other services
        env["AUTH_SIGNING_KEY_FILE"] = str(own_key)
    state = DevnetState.load(devnet)
    env["ZG_RPC_URL"] = state.rpc_url
    if service.name == "broker":
        # The first funded devnet wallet is the platform wallet; a devnet key, not a secret.
        env["ZG_PRIVATE_KEY"] = state.wallets[0].private_key
    storage = state.services.get("storage", {})
    if service.name == "storage" and isinstance(indexer := storage.get("indexer"), str):
        env["STORAGE_INDEXER_URL"] = indexer
    if service.name == "storage" and not env.get("STORAGE_MASTER_KEY"):
        env.setdefault("STORAGE_MASTER_KEY_FILE", str(DEV_MASTER_KEY_FILE))
    return env


def wait_serving(service: Service, timeout: float = 90.0) -> None:
    """Block until the service's health says SERVING; exit if its process dies first."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(service.address) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
        while time.monotonic() < deadline:
            assert service.process is not None
            if (code := service.process.poll()) is not None:
                raise SystemExit(f"dev: {service.name} exited with {code}")
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise SystemExit(f"dev: {service.name} did not become SERVING within {timeout:.0f} s")


def admin_key() -> SigningKey:
    """The development admin key (only this tool and token() hold it, no service does)."""
    return SigningKey.from_pem((DEV_KEYS / "admin.pem").read_bytes())


def _admin_metadata(audience: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {mint_token(admin_key(), 'admin', audience)}"),)


def create_ledger(broker: Service) -> None:
    """Give the platform wallet a funded 0G ledger, so chat calls work from the first minute."""
    request = broker_pb.CreateLedgerRequest(
        request_id="make-dev-ledger", initial_deposit_neuron=LEDGER_DEPOSIT_NEURON
    )
    with grpc.insecure_channel(broker.address) as channel:
        broker_service_pb2_grpc.BrokerServiceStub(channel).CreateLedger(
            request, metadata=_admin_metadata("broker"), timeout=60
        )


def devnet_providers(devnet: DevnetState) -> list[str]:
    """The addresses of the devnet's own providers (services.providers in its state file)."""
    published = devnet.services.get("providers", {}).get("providers")
    if not isinstance(published, list):
        return []
    return [str(p["provider"]) for p in published if isinstance(p, dict)]


def acknowledge_providers(broker: Service, devnet: DevnetState) -> list[str]:
    """Acknowledge every devnet provider's TEE signer, so the first chat needs no set-up call.
    Only the devnet's providers: on a real network acknowledging is the operator's decision."""
    providers = devnet_providers(devnet)
    with grpc.insecure_channel(broker.address) as channel:
        stub = broker_service_pb2_grpc.BrokerServiceStub(channel)
        for provider in providers:
            stub.AcknowledgeProvider(
                broker_pb.AcknowledgeProviderRequest(
                    request_id=f"make-dev-ack-{provider.lower()}", provider=provider
                ),
                metadata=_admin_metadata("broker"),
                timeout=60,
            )
    return providers


def dev_token(stack: list[Service]) -> str:
    """An admin token every service of the stack accepts, for trying calls by hand."""
    audiences = [service.name for service in stack]
    return mint_token(admin_key(), "admin", audiences, lifetime_seconds=TOKEN_HOURS * 3600)


def report(cluster: TempCluster, devnet: DevnetState, stack: list[Service], token: str) -> str:
    buf = "node_modules/.bin/buf curl --protocol grpc --http2-prior-knowledge"
    lines = ["", "zerog dev stack is up", f"  postgres    {cluster.dsn}"]
    lines += [f"  chain       {devnet.rpc_url}  (chain id {devnet.chain_id})"]
    lines += [
        f"  {s.name:<11} {s.address}  (metrics http://127.0.0.1:{s.metrics_port}/metrics)"
        for s in stack
    ]
    lines += [
        f"  openai      http://127.0.0.1:{s.http_port}/v1  (inference's OpenAI-compatible base_url)"
        for s in stack
        if s.http_port
    ]
    if stack:
        first = stack[0]
        lines += [
            "",
            f"export TOKEN={token}   # admin, every service, {TOKEN_HOURS} h",
            f"export AUTH_KEYS_DIR={DEV_KEYS.relative_to(ROOT)}"
            "   # for token() of docs/operations.md; docs/grpcurl.md works as written",
            "Try:",
            f"  {buf} --list-methods http://{first.address}",
            f'  {buf} -H "authorization: Bearer $TOKEN" -d \'{{"subject": "user:alice"}}\' '
            f"http://{first.address}/zerog.quota.v1.QuotaService/GetQuota",
            "A chat, a stream, a put and a get: the first section of docs/grpcurl.md.",
        ]
    lines += ["Ctrl-C stops everything.", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class DevStack:
    """The running stack: its database, devnet and services, and an admin token for them."""

    cluster: TempCluster
    devnet: RunningDevnet
    services: list[Service]
    token: str

    def address(self, name: str) -> str:
        return next(s.address for s in self.services if s.name == name)


@contextmanager
def dev_stack(stack: list[Service], env: Mapping[str, str] | None = None) -> Iterator[DevStack]:
    """PostgreSQL, the devnet and `stack`, ready to chat (a funded ledger, the devnet providers
    acknowledged), until the context ends; `env` adds to every service's environment."""
    with ExitStack() as stop, tempfile.TemporaryDirectory(prefix="zerog-dev-") as tmp:
        cluster = stop.enter_context(TempCluster())
        devnet = stop.enter_context(running_devnet(Path(tmp)))
        for service in stack:
            environment = {
                **service_env(service, stack, cluster.dsn, devnet.path),
                **(env or {}),
            }
            service.process = subprocess.Popen(
                dies_with_parent([sys.executable, "-m", f"services.{service.name}"]),
                cwd=ROOT,
                env=environment,
            )
            stop.callback(_terminate, service)
            wait_serving(service)
            if service.name == "broker":
                create_ledger(service)
                acknowledge_providers(service, devnet.state)
        yield DevStack(cluster, devnet, stack, dev_token(stack))


def main() -> None:
    with dev_stack(present_services()) as running:
        print(report(running.cluster, running.devnet.state, running.services, running.token))
        sys.stdout.flush()
        try:
            signal.pause()
        finally:
            print("dev: stopping", flush=True)


def _terminate(service: Service) -> None:
    if service.process is not None and service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        service.process.wait(timeout=60)


def _stop(signum: int, frame: object) -> None:
    # Unwinds main()'s ExitStack, so everything started so far is stopped, even mid-start-up.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    with suppress(KeyboardInterrupt):
        main()
