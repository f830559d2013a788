"""`make k8s-validate`: render every kustomize overlay and validate each object offline.

Core kinds are checked against the Kubernetes JSON schemas bundled in PyPI kubernetes-validate
(strict: unknown fields fail); ServiceMonitor, a CRD those schemas lack, against the subset schema
in deploy/k8s/schemas. Then zerog's own rules: probes, resources, security, grace periods and one
PDB, HPA, NetworkPolicy, ServiceMonitor, Service and ServiceAccount per Deployment; scaling rules
(a headless Service, no `replicas` beside an HPA); migrations in a Job of their own, never at
`serve`; a preStop pause and a shutdown delay that the grace period outlasts.
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
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}
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


def container_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """What a container's environment holds: its ConfigMaps' data, then its own env values."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps.get(source.get("configMapRef", {}).get("name", ""), {}))
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


def _seconds(env: dict[str, str], name: str) -> float:
    try:
        return float(env.get(name, "0"))
    except ValueError:
        return 0.0


def _matches(selector: Doc, labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def scaling_errors(docs: list[Doc]) -> list[str]:
    """Replicas belong to the HPA; callers balance over pods, so Services are headless."""
    errors: list[str] = []
    scaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"].get("kind") == "Deployment"
    }
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        name = dep["metadata"]["name"]
        if name in scaled and "replicas" in dep["spec"]:
            errors.append(f"{name}: sets replicas, which its HorizontalPodAutoscaler owns")
        service = services.get(name)
        if service is not None and service["spec"].get("clusterIP") != "None":
            errors.append(f"{name}: its Service must be headless (clusterIP: None)")
    return errors


def migration_errors(docs: list[Doc]) -> list[str]:
    """Each Deployment's migrations run in a Job of its own, and `serve` never migrates."""
    errors: list[str] = []
    jobs = [d for d in docs if d["kind"] == "Job"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    for dep in deployments:
        name, pod = dep["metadata"]["name"], dep["spec"]["template"]["spec"]
        migrate = ["python", "-m", f"services.{name}", "migrate"]
        if not any(
            c.get("command") == migrate
            for j in jobs
            for c in j["spec"]["template"]["spec"]["containers"]
        ):
            errors.append(f"{name}: no Job runs {' '.join(migrate)}")
        if any(c.get("command", [""])[-1] == "migrate" for c in pod.get("initContainers", [])):
            errors.append(f"{name}: migrates in an initContainer (every new pod would)")
        main = pod["containers"][0]
        if container_env(docs, main).get("MIGRATE_ON_START", "").lower() != "false":
            errors.append(f"{name}: MIGRATE_ON_START must be false (its Job migrates)")
    for job in jobs:
        labels = job["spec"]["template"]["metadata"].get("labels", {})
        for dep in deployments:
            if _matches(dep["spec"]["selector"], labels):
                errors.append(
                    f"Job {job['metadata']['name']}: its pods match Deployment "
                    f"{dep['metadata']['name']}'s selector (its PDB, HPA and Service count them)"
                )
    return errors


def shutdown_errors(docs: list[Doc]) -> list[str]:
    """preStop, then NOT_SERVING for SHUTDOWN_DELAY_SECONDS, then the drain: all before SIGKILL."""
    errors: list[str] = []
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        name, pod = dep["metadata"]["name"], dep["spec"]["template"]["spec"]
        main = pod["containers"][0]
        env = container_env(docs, main)
        pre_stop = main.get("lifecycle", {}).get("preStop")
        if not pre_stop:
            errors.append(f"{name}: no preStop hook")
        if _seconds(env, "SHUTDOWN_DELAY_SECONDS") <= 0:
            errors.append(f"{name}: SHUTDOWN_DELAY_SECONDS must be set above 0")
        pause = (pre_stop or {}).get("sleep", {}).get("seconds", 0)
        needed = (
            pause
            + _seconds(env, "SHUTDOWN_DELAY_SECONDS")
            + _seconds(env, "SHUTDOWN_GRACE_SECONDS")
        )
        if pod.get("terminationGracePeriodSeconds", 30) <= needed:
            errors.append(
                f"{name}: terminationGracePeriodSeconds must exceed preStop + "
                f"SHUTDOWN_DELAY_SECONDS + SHUTDOWN_GRACE_SECONDS ({needed:g} s)"
            )
    return errors


def rule_errors(docs: list[Doc]) -> list[str]:
    """zerog's deployment rules over one rendered overlay."""
    errors: list[str] = []
    by_kind: dict[str, set[str]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
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
        main = pod["containers"][0]
        ready = main.get("readinessProbe", {}).get("grpc", {})
        if not ready.get("service", "").startswith(f"zerog.{name}.v1."):
            errors.append(f"{name}: readiness must be a gRPC probe of zerog.{name}.v1.*")
        if "grpc" not in main.get("livenessProbe", {}):
            errors.append(f"{name}: liveness must be a gRPC probe")
        for c in _containers(dep):
            if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                errors.append(f"{name}/{c['name']}: root filesystem must be read-only")
            if "requests" not in c.get("resources", {}) or "memory" not in c["resources"].get(
                "limits", {}
            ):
                errors.append(f"{name}/{c['name']}: needs resource requests and a memory limit")
    return errors + scaling_errors(docs) + migration_errors(docs) + shutdown_errors(docs)


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
