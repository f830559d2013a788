"""Compose, Kubernetes and the code agree on every service's environment variable names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import ZEROG_SERVICES
from tools import service_env

# Only compose runs the devnet, whose addresses the services read from its state file.
COMPOSE_ONLY = {"DEVNET_STATE"}
# Only Kubernetes runs migrations in Jobs and has endpoints to leave before a pod drains.
K8S_ONLY = {"MIGRATE_ON_START", "SHUTDOWN_DELAY_SECONDS"}
Docs = list[dict[str, Any]]


def k8s_env_names(docs: Docs, service: str) -> set[str]:
    """Names a Deployment's main container gets: env entries plus its ConfigMaps' keys."""
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == service
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(maps[source["configMapRef"]["name"]])
    return names


def _usage(service: str) -> service_env.EnvUsage:
    if not service_env.exists(service):
        pytest.skip(f"services/{service}/config.py does not exist yet")
    return service_env.usage(service)


def _missing_required(names: set[str], usage: service_env.EnvUsage) -> set[str]:
    return {r for r in usage.required if r not in names and f"{r}_FILE" not in names}


@pytest.mark.parametrize("service", ZEROG_SERVICES)
def test_compose_sets_only_names_the_code_reads(
    compose_config: dict[str, Any], service: str
) -> None:
    usage = _usage(service)
    names = set(compose_config["services"][service]["environment"])
    assert {n for n in names if not usage.accepts(n)} == set()
    assert _missing_required(names, usage) == set()


@pytest.mark.parametrize("service", ZEROG_SERVICES)
def test_k8s_sets_only_names_the_code_reads(rendered: dict[str, Docs], service: str) -> None:
    usage = _usage(service)
    for overlay, docs in rendered.items():
        names = k8s_env_names(docs, service)
        assert {n for n in names if not usage.accepts(n)} == set(), overlay
        assert _missing_required(names, usage) == set(), overlay


@pytest.mark.parametrize("service", ZEROG_SERVICES)
def test_compose_and_k8s_use_the_same_names(
    compose_config: dict[str, Any], rendered: dict[str, Docs], service: str
) -> None:
    compose_names = set(compose_config["services"][service]["environment"]) - COMPOSE_ONLY
    for overlay, docs in rendered.items():
        assert k8s_env_names(docs, service) - K8S_ONLY == compose_names - K8S_ONLY, overlay


def test_the_scanner_finds_what_quota_reads() -> None:
    usage = service_env.usage("quota")
    assert {"DATABASE_URL", "PORT", "RATE_LIMITS", "AUTH_ALLOW", "OTEL_EXPORTER_OTLP_ENDPOINT"} <= (
        usage.names
    )
    assert usage.required == {"DATABASE_URL", "AUTH_JWKS_FILE"}
    assert usage.accepts("AUTH_SIGNING_KEY_FILE") and usage.accepts("AUTH_JWKS_URL")
    assert usage.accepts("DATABASE_URL_FILE") and not usage.accepts("PORT_FILE")
    assert not usage.accepts("QUOTA_ADDRESS")


@pytest.mark.parametrize("service", ZEROG_SERVICES)
def test_every_service_serves_through_run_service(service: str) -> None:
    """run_service is what honours MIGRATE_ON_START and SHUTDOWN_DELAY_SECONDS at `serve`."""
    usage = _usage(service)
    assert {"MIGRATE_ON_START", "SHUTDOWN_DELAY_SECONDS"} <= usage.names
    main = (service_env.ROOT / "services" / service / "__main__.py").read_text()
    assert "run_service(" in main
