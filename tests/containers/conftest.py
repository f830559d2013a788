"""The compose stack in containers, for tests/containers (run by `make test-containers`).

Skipped unless ZEROG_CONTAINER_TESTS=1: they need a Docker engine and the images `make images`
builds, and bring up the whole stack. tests/containers/run.sh sets the compose project
(COMPOSE_PROJECT_NAME) and files (COMPOSE_FILE) and removes the project whatever happens; the
fixture below removes it too when the tests end normally.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ZEROG_SERVICES = ("quota", "broker", "storage", "inference", "scheduler")
# Every container of the stack and how many of each: the broker runs two replicas.
EXPECTED = {
    "postgres": 1,
    "devnet": 1,
    "quota": 1,
    "broker": 2,
    "storage": 1,
    "inference": 1,
    "scheduler": 1,
    "otel-collector": 1,
    "jaeger": 1,
    "prometheus": 1,
}
# Host ports of docker-compose.yml, all left to Docker (an empty value): nothing fixed on the
# host, so this run never clashes with another stack or a scaled service.
PORT_VARIABLES = (
    "POSTGRES_PORT",
    "CHAIN_PORT",
    "PROVIDER0_PORT",
    "PROVIDER1_PORT",
    "STORAGE_NODE_PORT",
    "INDEXER_PORT",
    "QUOTA_PORT",
    "BROKER_PORT",
    "STORAGE_PORT",
    "INFERENCE_PORT",
    "SCHEDULER_PORT",
    "JAEGER_PORT",
    "OTLP_PORT",
    "OTLP_HTTP_PORT",
    "PROMETHEUS_PORT",
)
UP_SECONDS = 900.0
HEALTHY_SECONDS = 600.0

enabled = os.environ.get("ZEROG_CONTAINER_TESTS") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if enabled:
        return
    skip = pytest.mark.skip(reason="container tests: make test-containers")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


class Compose:
    """docker-compose for this run's project (COMPOSE_PROJECT_NAME, COMPOSE_FILE)."""

    def __init__(self) -> None:
        self.project = os.environ["COMPOSE_PROJECT_NAME"]
        assert self.project.startswith("zerog"), self.project
        self.env = {**os.environ, **dict.fromkeys(PORT_VARIABLES, "")}

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        done = subprocess.run(
            ["docker-compose", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, (args, done.stderr[-4000:])
        return done.stdout

    def containers(self) -> list[dict[str, Any]]:
        """`docker inspect` of every container of the project."""
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
        if not ids:
            return []
        inspected = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        found: list[dict[str, Any]] = json.loads(inspected)
        return found

    def address(self, service: str, port: int, index: int = 1) -> str:
        """host:port where the host reaches `port` of the service's index-th container."""
        published = self("port", f"--index={index}", service, str(port)).strip()
        host, _, number = published.rpartition(":")
        return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{number}"

    def logs(self) -> str:
        return self("logs", "--no-color", "--tail=40", timeout=120)


def service_of(container: dict[str, Any]) -> str:
    return str(container["Config"]["Labels"]["com.docker.compose.service"])


def health_of(container: dict[str, Any]) -> str:
    state = container["State"]
    return str(state.get("Health", {}).get("Status") or state["Status"])


def wait_healthy(compose: Compose, deadline: float) -> list[dict[str, Any]]:
    """Every expected container, once all report healthy (fails at the deadline)."""
    containers: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        containers = compose.containers()
        counts: dict[str, int] = {}
        for c in containers:
            counts[service_of(c)] = counts.get(service_of(c), 0) + 1
        if counts == EXPECTED and all(health_of(c) == "healthy" for c in containers):
            return containers
        if any(c["State"]["Status"] == "exited" for c in containers):
            break
        time.sleep(2)
    states = sorted((c["Name"], health_of(c)) for c in containers)
    raise AssertionError(f"not all healthy: {states}\n{compose.logs()}")


@pytest.fixture(scope="module")
def compose() -> Iterator[Compose]:
    """The stack, up with two broker replicas and every container healthy."""
    compose = Compose()
    try:
        try:
            compose("up", "-d", "--no-build", "--scale", "broker=2", timeout=UP_SECONDS)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{compose.logs()}") from None
        wait_healthy(compose, time.monotonic() + HEALTHY_SECONDS)
        yield compose
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "30", timeout=300)
