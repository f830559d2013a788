"""`make k8s-validate`: render every kustomize overlay and validate each object offline.

Core kinds are checked against the Kubernetes JSON schemas bundled in PyPI kubernetes-validate
(strict: unknown fields fail); ServiceMonitor, a CRD those schemas lack, against the subset schema
in deploy/k8s/schemas. Then zerog's own rules: probes, resources, security, grace periods and one
PDB, HPA, NetworkPolicy, ServiceMonitor, Service and ServiceAccount per Deployment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # no stubs or py.typed
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32"
# kubectl 1.32 embeds kustomize v5.5.0; a standalone kustomize must be the same minor.
KUSTOMIZE_VERSION = re.compile(r"v5\.5\.\d+")
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json"}
Doc = dict[str, Any]


def kustomize_command() -> list[str]:
    """$KUSTOMIZE, else kustomize, else `kubectl kustomize`; checked for the pinned minor."""
    if os.environ.get("KUSTOMIZE"):
        command = [os.environ["KUSTOMIZE"], "build"]
        version = subprocess.run([command[0], "version"], capture_output=True, text=True).stdout
    elif shutil.which("kustomize"):
        command = ["kustomize", "build"]
        version = subprocess.run(["kustomize", "version"], capture_output=True, text=True).stdout
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize"]
        version = subprocess.run(
            ["kubectl", "version", "--client"], capture_output=True, text=True
        ).stdout
    else:
        raise SystemExit("k8s-validate: neither kustomize nor kubectl is on PATH")
    if not KUSTOMIZE_VERSION.search(version):
        raise SystemExit(
            f"k8s-validate: need kustomize {KUSTOMIZE_VERSION.pattern}, got {version!r}"
        )
    return command


def overlays() -> list[Path]:
    """The base and every overlay directory."""
    return [K8S / "base", *sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())]


def render(directory: Path, command: list[str] | None = None) -> list[Doc]:
    """The objects kustomize renders from one directory."""
    result = subprocess.run(
        [*(command or kustomize_command()), str(directory)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"kustomize failed for {directory}:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_errors(doc: Doc) -> list[str]:
    """Schema violations of one object (an empty list when it is valid)."""
    crd = CRD_SCHEMAS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    try:
        if crd is not None:
            schema = json.loads((K8S / "schemas" / crd).read_text())
            jsonschema.Draft202012Validator(schema).validate(doc)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except jsonschema.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path)
        return [f"{where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"no schema: {error.message}"]
    return []


def _containers(deployment: Doc) -> Iterator[Doc]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def rule_errors(docs: list[Doc]) -> list[str]:
    """zerog's deployment rules over one rendered overlay."""
    errors: list[str] = []
    by_kind: dict[str, set[str]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
    grace = int(
        next(d for d in docs if d["metadata"]["name"] == "zerog-common")["data"][
            "SHUTDOWN_GRACE_SECONDS"
        ]
    )
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        name, pod = dep["metadata"]["name"], dep["spec"]["template"]["spec"]
        for kind in (
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "ServiceMonitor",
            "Service",
        ):
            if name not in by_kind.get(kind, set()):
                errors.append(f"{name}: no {kind}")
        if pod.get("serviceAccountName") not in by_kind.get("ServiceAccount", set()):
            errors.append(f"{name}: its ServiceAccount is missing")
        if pod.get("terminationGracePeriodSeconds", 30) <= grace:
            errors.append(
                f"{name}: terminationGracePeriodSeconds must exceed SHUTDOWN_GRACE_SECONDS {grace}"
            )
        main = pod["containers"][0]
        ready = main.get("readinessProbe", {}).get("grpc", {})
        if not ready.get("service", "").startswith(f"zerog.{name}.v1."):
            errors.append(f"{name}: readiness must be a gRPC probe of zerog.{name}.v1.*")
        if "grpc" not in main.get("livenessProbe", {}):
            errors.append(f"{name}: liveness must be a gRPC probe")
        if not any(c["command"][-1] == "migrate" for c in pod.get("initContainers", [])):
            errors.append(f"{name}: no migration initContainer")
        for c in _containers(dep):
            if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                errors.append(f"{name}/{c['name']}: root filesystem must be read-only")
            if "requests" not in c.get("resources", {}) or "memory" not in c["resources"].get(
                "limits", {}
            ):
                errors.append(f"{name}/{c['name']}: needs resource requests and a memory limit")
    return errors


def main() -> int:
    """Validate every overlay; print one line per problem; exit 1 if any."""
    command = kustomize_command()
    failures = 0
    for directory in overlays():
        docs = render(directory, command)
        problems = [
            f"{d['kind']}/{d['metadata']['name']}: {e}" for d in docs for e in schema_errors(d)
        ] + rule_errors(docs)
        label = directory.relative_to(K8S)
        for problem in problems:
            print(f"FAIL {label}: {problem}")
        print(f"{'ok  ' if not problems else 'FAIL'} {label}: {len(docs)} objects")
        failures += len(problems)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
