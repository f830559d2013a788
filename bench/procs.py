"""Services as real OS processes (`python -m services.<svc>`) and their health."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.context import ROOT
from zerog_db.cluster import free_port
from zerog_grpc.keyring import Keyring

# Throwaway keys: the bench's own services only, never deployed.
BENCH_KEYS = Keyring("zerog-bench", ["quota", "broker", "inference", "storage", "scheduler"])


def present_services() -> list[str]:
    """Every services/<svc> that has a __main__.py (one that can start as a process)."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py"))


@dataclass
class ServiceProcess:
    """A started service: its process, address and where its output went."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


def wait_serving(service: ServiceProcess, timeout: float = 60.0) -> None:
    """Until health says SERVING; RuntimeError with its log if it exits or times out."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(service.address) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited: {service.log_tail()}")
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} not SERVING after {timeout:.0f} s: {service.log_tail()}")


@contextmanager
def service_process(
    name: str, env: Mapping[str, str], scratch: Path, timeout: float = 90.0, port: int = 0
) -> Iterator[ServiceProcess]:
    """`python -m services.<name>` on a free port with the usual env, SERVING; stopped after."""
    port = port or free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "METRICS_PORT": str(free_port()),
        **BENCH_KEYS.env(name),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    log = scratch / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = ServiceProcess(name, process, port, log)
    try:
        wait_serving(service, timeout)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
