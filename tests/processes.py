"""Run a service as a real OS process (`python -m services.<svc>`), as production does."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devnet.process import dies_with_parent
from zerog_db.cluster import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING


async def health_status(address: str, service: str = "") -> int | None:
    """The health status on a new connection, or None when nothing answers there."""
    async with grpc.aio.insecure_channel(address) as channel:
        # The health stub is typed for sync channels only.
        health: Any = health_pb2_grpc.HealthStub(channel)
        try:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.aio.AioRpcError:
            return None
        return int(answer.status)


@dataclass
class ServiceProcess:
    """A service started as a child process on a free port."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_serving(self, attempts: int = 300) -> None:
        """Wait until health says SERVING; fail if the process exits first."""
        for _ in range(attempts):
            if self.process.returncode is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}")
            if await health_status(self.address) == SERVING:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"service on {self.address} never became SERVING")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()

    async def wait(self) -> int:
        """The exit code, once the process has exited (callers bound it with asyncio.timeout)."""
        return await self.process.wait()


async def start_service_process(service: str, env: Mapping[str, str]) -> ServiceProcess:
    """Start `python -m services.<service>` with `env` added to ours and a free PORT."""
    port = free_port()
    # HTTP_PORT 0: inference's OpenAI-compatible endpoint off, so replicas never share a port.
    environment = {**os.environ, "PORT": str(port), "METRICS_PORT": "0", "HTTP_PORT": "0", **env}
    # Killed with the test run, even when nothing gets to stop it.
    process = await asyncio.create_subprocess_exec(
        *dies_with_parent([sys.executable, "-m", f"services.{service}"]), env=environment
    )
    return ServiceProcess(process, port)
