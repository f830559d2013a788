"""docker-compose.yml: valid for Compose, every container health-checked, started in order."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.deploy.conftest import ROOT, ZEROG_SERVICES

# What each container must wait for, and in which state: the calls of the architecture.
NEEDS = {
    "quota": {"postgres": "service_healthy"},
    "broker": {"postgres": "service_healthy", "devnet": "service_healthy"},
    "storage": {
        "postgres": "service_healthy",
        "devnet": "service_healthy",
        "broker": "service_healthy",
        "quota": "service_healthy",
    },
    "inference": {
        "postgres": "service_healthy",
        "devnet": "service_healthy",
        "broker": "service_healthy",
        "quota": "service_healthy",
        "storage": "service_healthy",
    },
    "scheduler": {"postgres": "service_healthy", "inference": "service_healthy"},
    "otel-collector": {"jaeger": "service_healthy"},
}
EXPECTED = {*ZEROG_SERVICES, "postgres", "devnet", "otel-collector", "jaeger", "prometheus"}


def test_compose_config_is_valid(compose: list[str]) -> None:
    result = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_whole_stack_is_there(compose_config: dict[str, Any]) -> None:
    assert set(compose_config["services"]) == EXPECTED


def test_every_container_has_a_healthcheck(compose_config: dict[str, Any]) -> None:
    missing = [
        name
        for name, svc in compose_config["services"].items()
        if not svc.get("healthcheck", {}).get("test") or svc["healthcheck"].get("disable")
    ]
    assert missing == []


def test_services_probe_their_own_grpc_health(compose_config: dict[str, Any]) -> None:
    for name in ZEROG_SERVICES:
        svc = compose_config["services"][name]
        test = svc["healthcheck"]["test"]
        port = svc["environment"]["PORT"]
        assert test[:3] == ["CMD", "python", "/opt/zerog/health_probe.py"], name
        assert test[3] == f"127.0.0.1:{port}", name
        assert test[4] == f"zerog.{name}.v1.{name.capitalize()}Service", name


def test_each_container_waits_for_what_it_calls(compose_config: dict[str, Any]) -> None:
    for name, needs in NEEDS.items():
        depends = compose_config["services"][name].get("depends_on", {})
        got = {dep: depends[dep]["condition"] for dep in needs if dep in depends}
        assert got == needs, name


def test_dependencies_exist_and_have_no_cycle(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    graph = {name: set(svc.get("depends_on", {})) for name, svc in services.items()}
    assert all(dep in services for deps in graph.values() for dep in deps)
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {n for n, deps in graph.items() if n not in done and deps <= done}
        assert ready, f"dependency cycle among {set(graph) - done}"
        done |= ready


def test_service_containers_are_locked_down(compose_config: dict[str, Any]) -> None:
    for name in ZEROG_SERVICES:
        svc = compose_config["services"][name]
        assert svc["read_only"] is True, name
        assert svc["user"] == "10001:10001", name
        assert svc["command"] == ["python", "-m", f"services.{name}", "serve"], name
        grace = float(svc["environment"]["SHUTDOWN_GRACE_SECONDS"])
        # Compose reports stop_grace_period as a duration string such as "30s".
        assert float(svc["stop_grace_period"].removesuffix("s")) > grace, name


def test_secrets_are_files_never_values(compose_config: dict[str, Any]) -> None:
    for name in ZEROG_SERVICES:
        env = compose_config["services"][name]["environment"]
        for secret in ("DATABASE_URL", "AUTH_SIGNING_KEY", "ZG_PRIVATE_KEY"):
            assert secret not in env, f"{name} sets {secret} in plain text"
    assert "ZG_PRIVATE_KEY_FILE" in compose_config["services"]["broker"]["environment"]
    holders = [
        n
        for n in ZEROG_SERVICES
        if "zg_private_key" in str(compose_config["services"][n].get("secrets"))
    ]
    assert holders == ["broker"]
