"""Every kustomize overlay renders, passes the offline schemas and follows our deployment rules."""

from __future__ import annotations

import copy
from typing import Any

from tools import k8s_base, k8s_spec, k8s_validate

Docs = list[dict[str, Any]]


def test_base_is_what_the_spec_renders() -> None:
    assert k8s_base.main(["k8s_base", "--check"]) == 0


def test_every_overlay_renders_and_validates(rendered: dict[str, Docs]) -> None:
    assert set(rendered) == {"base", "overlays/dev", "overlays/testnet", "overlays/mainnet"}
    for overlay, docs in rendered.items():
        errors = [
            f"{d['kind']}/{d['metadata']['name']}: {e}"
            for d in docs
            for e in k8s_validate.schema_errors(d)
        ]
        assert errors + k8s_validate.rule_errors(docs) == [], overlay


def test_the_validator_rejects_broken_objects(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["overlays/mainnet"])
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "three"
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["prot"] = "metrics"
    assert k8s_validate.schema_errors(deployment)
    assert k8s_validate.schema_errors(monitor)
    assert any("terminationGracePeriodSeconds" in e for e in k8s_validate.rule_errors(docs))


def test_services_scale_migrate_and_stop_as_the_rules_say(rendered: dict[str, Docs]) -> None:
    for overlay, docs in rendered.items():
        deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
        services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
        jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
        scaled = {
            d["spec"]["scaleTargetRef"]["name"]
            for d in docs
            if d["kind"] == "HorizontalPodAutoscaler"
        }
        assert set(deployments) == scaled == set(k8s_spec.ADDRESSES) | {"scheduler"}, overlay
        for name, dep in deployments.items():
            assert "replicas" not in dep["spec"], (overlay, name)
            assert services[name]["spec"]["clusterIP"] == "None", (overlay, name)
            pod = dep["spec"]["template"]["spec"]
            assert "initContainers" not in pod, (overlay, name)
            assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
            job = jobs[f"{name}-migrate"]["spec"]["template"]["spec"]
            assert job["containers"][0]["command"] == [
                "python",
                "-m",
                f"services.{name}",
                "migrate",
            ]
            env = k8s_validate.container_env(docs, pod["containers"][0])
            assert env["MIGRATE_ON_START"] == "false", (overlay, name)
            assert float(env["SHUTDOWN_DELAY_SECONDS"]) > 0, (overlay, name)


def test_the_rules_catch_replicas_cluster_ips_init_migrations_and_short_grace(
    rendered: dict[str, Docs],
) -> None:
    docs = copy.deepcopy(rendered["overlays/mainnet"])
    broker = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "broker"
    )
    broker["spec"]["replicas"] = 3
    pod = broker["spec"]["template"]["spec"]
    pod["initContainers"] = [{**pod["containers"][0], "command": ["python", "-m", "x", "migrate"]}]
    del pod["containers"][0]["lifecycle"]
    pod["terminationGracePeriodSeconds"] = 25
    next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "broker")[
        "spec"
    ].pop("clusterIP")
    quota_job = next(d for d in docs if d["metadata"]["name"] == "quota-migrate")
    quota_job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "quota"
    docs.remove(next(d for d in docs if d["metadata"]["name"] == "storage-migrate"))
    common = next(d for d in docs if d["metadata"]["name"] == "zerog-common")
    common["data"]["MIGRATE_ON_START"] = "true"
    errors = "\n".join(k8s_validate.rule_errors(docs))
    for expected in (
        "broker: sets replicas",
        "broker: its Service must be headless",
        "broker: migrates in an initContainer",
        "broker: no preStop hook",
        "broker: terminationGracePeriodSeconds must exceed",
        "storage: no Job runs python -m services.storage migrate",
        "Job quota-migrate: its pods match Deployment quota's selector",
        "scheduler: MIGRATE_ON_START must be false",
    ):
        assert expected in errors, expected


def test_broker_signer_key_comes_from_a_secret_file(rendered: dict[str, Docs]) -> None:
    for overlay, docs in rendered.items():
        for d in (d for d in docs if d["kind"] == "Deployment"):
            pod = d["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
            sources = [
                s["secret"]["name"]
                for v in pod["volumes"]
                if "projected" in v
                for s in v["projected"]["sources"]
            ]
            holds_key = "ZG_PRIVATE_KEY_FILE" in env
            assert holds_key == (d["metadata"]["name"] == "broker"), overlay
            assert ("zerog-broker-wallet" in sources) == holds_key, overlay
            assert "ZG_PRIVATE_KEY" not in env, overlay


def test_network_policies_allow_only_the_architecture(rendered: dict[str, Docs]) -> None:
    docs = rendered["overlays/mainnet"]
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["zerog-default-deny"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "zerog"}},
        "policyTypes": ["Ingress", "Egress"],
    }
    expected_calls = {
        "quota": set(),
        "broker": set(),
        "storage": {"broker", "quota"},
        "inference": {"broker", "quota", "storage"},
        "scheduler": {"inference", "quota", "storage"},
    }
    for svc, calls in expected_calls.items():
        spec = policies[svc]
        peers = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in spec["egress"]
            for p in rule.get("to", [])
            if "app.kubernetes.io/name" in p.get("podSelector", {}).get("matchLabels", {})
        }
        assert peers == calls, svc
        callers = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in spec["ingress"][0]["from"]
            if "app.kubernetes.io/name" in p.get("podSelector", {}).get("matchLabels", {})
        }
        assert callers == {c for c, targets in expected_calls.items() if svc in targets}, svc
    # Only the broker reaches the chain RPC port; only inference and broker reach providers.
    public = {
        svc: {
            p["port"]
            for rule in policies[svc]["egress"]
            if any("ipBlock" in t for t in rule.get("to", []))
            for p in rule["ports"]
        }
        for svc in expected_calls
    }
    assert 8545 in public["broker"] and 8545 not in public["inference"]
    assert public["quota"] == set()


def test_scheduler_scales_and_grace_outlasts_the_drain(rendered: dict[str, Docs]) -> None:
    docs = rendered["overlays/mainnet"]
    hpa = next(
        d
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "scheduler"
    )
    assert hpa["spec"]["minReplicas"] >= 2
    assert k8s_spec.TERMINATION_GRACE_SECONDS > k8s_spec.SHUTDOWN_GRACE_SECONDS
