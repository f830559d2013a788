"""docker-compose.local.yml and deploy/prometheus.yml: what the stack runs without a registry,
and what Prometheus scrapes (tests/containers runs them; these check the files offline)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT, ZEROG_SERVICES

# What `make images` (deploy/images) builds, by the service that runs it.
LOCAL_IMAGES = {
    "postgres": "zerog-local/postgres:15-bookworm",
    "prometheus": "zerog-local/prometheus:bookworm",
    "jaeger": "zerog:dev",
    "otel-collector": "zerog:dev",
}


@pytest.fixture(scope="module")
def local_config(compose: list[str]) -> dict[str, Any]:
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.local.yml")]
    result = subprocess.run(
        [*compose, *files, "config", "--format", "json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_nothing_left_to_pull(local_config: dict[str, Any]) -> None:
    images = {name: svc["image"] for name, svc in local_config["services"].items()}
    assert {name: images[name] for name in LOCAL_IMAGES} == LOCAL_IMAGES
    assert all(i.startswith(("zerog:", "zerog-devnet:", "zerog-local/")) for i in images.values())


def test_stand_ins_receive_otlp_and_are_health_checked(local_config: dict[str, Any]) -> None:
    services = local_config["services"]
    collector, jaeger = services["otel-collector"], services["jaeger"]
    assert collector["command"][:3] == ["python", "-m", "devnet.otlp_receiver"]
    assert "--forward=jaeger:4317" in collector["command"]
    assert jaeger["command"][:3] == ["python", "-m", "devnet.otlp_receiver"]
    for svc in (collector, jaeger):
        assert "/healthz" in " ".join(svc["healthcheck"]["test"])
    # Services still export to the collector's name, as with the real collector.
    for name in ZEROG_SERVICES:
        endpoint = services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://otel-collector:4317"


def test_ports_are_published_on_loopback_only(local_config: dict[str, Any]) -> None:
    for name, svc in local_config["services"].items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def test_prometheus_scrapes_each_service_on_its_own_metrics_port() -> None:
    config = yaml.safe_load(Path(ROOT / "deploy" / "prometheus.yml").read_text())
    (zerog,) = [job for job in config["scrape_configs"] if job["job_name"] == "zerog"]
    (dns,) = zerog["dns_sd_configs"]
    assert sorted(dns["names"]) == sorted(ZEROG_SERVICES)
    assert dns["port"] == 9464
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ZEROG_SERVICES:
        assert compose["services"][name]["environment"]["METRICS_PORT"] == "9464"
