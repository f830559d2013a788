"""The Grafana dashboard names only metrics the services export, and its PromQL parses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metric_catalog import KNOWN, OWNED, names_in
from tools import k8s_validate

DASHBOARDS = sorted((k8s_validate.ROOT / "deploy" / "grafana").glob("*.json"))


def _exprs(dashboard: Path) -> list[str]:
    data: dict[str, Any] = json.loads(dashboard.read_text())
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.name)
def test_every_expr_names_an_exported_metric(dashboard: Path) -> None:
    for expr in _exprs(dashboard):
        names = names_in(expr)
        assert names, expr
        assert names <= KNOWN, (expr, names - KNOWN)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.name)
def test_every_on_call_metric_is_on_the_dashboard(dashboard: Path) -> None:
    shown = set().union(*(names_in(e) for e in _exprs(dashboard)))
    assert set().union(*OWNED.values()) - shown == set()


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda p: p.name)
def test_promtool_parses_every_expr(dashboard: Path, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    # promtool checks PromQL inside rule files: each expression as a recording rule.
    rules = [{"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(_exprs(dashboard))]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
