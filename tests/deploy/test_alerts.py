"""The PrometheusRule in deploy/k8s passes `promtool check rules` and names only metrics the
services export (tests/deploy/metric_catalog.py, proven by test_metric_names)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metric_catalog import KNOWN, names_in
from tools import k8s_validate

RULES = k8s_validate.K8S / "base" / "prometheus-rules.yaml"
# What the seeds ask on-call to be told about, by the alert that tells it.
SEEDED = {
    "ZerogErrorRateCritical",
    "ZerogBreakerOpen",
    "ZerogQuotaNearLimit",
    "ZerogLedgerLow",
    "ZerogCostUp20Percent",
}


def _rule() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text())
    return doc


def _rules() -> list[dict[str, Any]]:
    return [r for g in _rule()["spec"]["groups"] for r in g["rules"]]


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    groups = tmp_path / "zerog.rules.yaml"
    groups.write_text(yaml.safe_dump({"groups": _rule()["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(groups)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_every_seeded_alert_exists_with_a_severity_and_runbook() -> None:
    rules = {r["alert"]: r for r in _rules() if "alert" in r}
    assert set(rules) >= SEEDED
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        runbooks = (k8s_validate.ROOT / "docs" / "runbooks" / "README.md").read_text()
        assert (
            f"{{#{anchor}}}" in runbooks
            or f'id="{anchor}"' in runbooks
            or (anchor in _anchors(runbooks))
        ), name


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add("".join(c for c in title if c.isalnum() or c in " -_").replace(" ", "-"))
    return anchors


def test_the_rules_name_only_exported_metrics() -> None:
    used = set().union(*(names_in(r["expr"]) for r in _rules()))
    assert used and used <= KNOWN, used - KNOWN


def test_the_base_deploys_the_rules(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        assert any(d["kind"] == "PrometheusRule" for d in docs), overlay
