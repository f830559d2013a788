"""The whole stack in containers (issue 17): calls through the published ports, metrics through
the containerized Prometheus, traces through the OTLP pipeline, two broker replicas."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from tests.containers.conftest import EXPECTED, ROOT, ZEROG_SERVICES, Compose
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.scheduler.v1 import scheduler_service_pb2 as spb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as stpb
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_grpc import TokenMinter
from zerog_grpc.tokens import SigningKey

# The development keys compose's JWKS trusts, one per caller (deploy/compose/secrets).
KEYS = ROOT / "deploy" / "compose" / "secrets" / "auth_keys"
CHATS = 6
# What inference (and only inference) calls on the broker: none of these come from the test.
FROM_INFERENCE = ("ListProviders", "GetRequestCredentials", "VerifyResponse", "RecordUsageBatch")
WAIT_SECONDS = 120.0


def md(caller: str, audience: str, user: str = "") -> tuple[tuple[str, str], ...]:
    key = SigningKey.from_pem((KEYS / f"{caller}.pem").read_bytes())
    return tuple(TokenMinter(key, caller).metadata(audience, user))


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def eventually(check: Any, what: str, seconds: float = WAIT_SECONDS) -> Any:
    """check()'s first truthy result, polled until the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s (last {result!r})"
        time.sleep(1)


@dataclass(frozen=True)
class Stack:
    compose: Compose
    channels: dict[str, grpc.Channel]

    def http(self, service: str, port: int) -> str:
        return f"http://{self.compose.address(service, port)}"

    def prometheus(self, query: str) -> list[dict[str, Any]]:
        url = f"{self.http('prometheus', 9090)}/api/v1/query?" + urllib.parse.urlencode(
            {"query": query}
        )
        answer = get_json(url)
        assert answer["status"] == "success", answer
        found: list[dict[str, Any]] = answer["data"]["result"]
        return found


@pytest.fixture(scope="module")
def stack(compose: Compose) -> Iterator[Stack]:
    channels = {
        name: grpc.insecure_channel(compose.address(name, 50051)) for name in ZEROG_SERVICES
    }
    yield Stack(compose, channels)
    for channel in channels.values():
        channel.close()


@dataclass(frozen=True)
class Chats:
    trace_ids: list[str]
    replies: list[ipb.ChatCompletionResponse]


@pytest.fixture(scope="module")
def chats(stack: Stack) -> Chats:
    """A funded ledger, then CHATS verified completions, each in a trace the test starts."""
    broker = broker_service_pb2_grpc.BrokerServiceStub(stack.channels["broker"])
    broker.CreateLedger(
        bpb.CreateLedgerRequest(
            request_id="containers-ledger", initial_deposit_neuron=str(100 * 10**18)
        ),
        metadata=md("admin", "broker"),
        timeout=120,
    )
    providers = broker.ListProviders(
        bpb.ListProvidersRequest(page_size=100), metadata=md("inference", "broker"), timeout=60
    ).providers
    assert len(providers) == 2, providers  # the devnet's two
    for provider in providers:
        broker.AcknowledgeProvider(
            bpb.AcknowledgeProviderRequest(
                request_id=f"containers-ack-{provider.address}", provider=provider.address
            ),
            metadata=md("admin", "broker"),
            timeout=120,
        )
    inference = inference_service_pb2_grpc.InferenceServiceStub(stack.channels["inference"])
    models = inference.ListModels(
        ipb.ListModelsRequest(verifiable_only=True),
        metadata=md("scheduler", "inference"),
        timeout=60,
    )
    assert models.models, "the devnet's providers offer no verifiable model"
    trace_ids, replies = [], []
    for i in range(CHATS):
        trace_id = uuid.uuid4().hex
        traceparent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
        reply = inference.ChatCompletion(
            ipb.ChatCompletionRequest(
                request_id=f"containers-chat-{i}",
                subject="user:containers",
                model=models.models[0].id,
                messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content=f"hello {i}")],
                max_tokens=16,
                routing=ipb.RoutingOptions(verifiable_only=True),
            ),
            metadata=(*md("scheduler", "inference"), ("traceparent", traceparent)),
            timeout=120,
        )
        trace_ids.append(trace_id)
        replies.append(reply)
    return Chats(trace_ids, replies)


def test_every_container_is_healthy(compose: Compose) -> None:
    containers = compose.containers()
    services = [c["Config"]["Labels"]["com.docker.compose.service"] for c in containers]
    assert {s: services.count(s) for s in set(services)} == EXPECTED
    assert {c["State"]["Health"]["Status"] for c in containers} == {"healthy"}


def test_chat_completion_is_answered_and_verified(chats: Chats) -> None:
    for reply in chats.replies:
        assert reply.choices[0].message.content
        assert reply.verification.status == ipb.VERIFICATION_STATUS_VERIFIED
        assert int(reply.cost.fee_neuron) > 0


def test_put_object_then_get_object(stack: Stack) -> None:
    storage = storage_service_pb2_grpc.StorageServiceStub(stack.channels["storage"])
    caller = md("inference", "storage", "user:containers")
    namespace = f"containers-{uuid.uuid4().hex[:8]}"
    storage.CreateNamespace(
        stpb.CreateNamespaceRequest(request_id=uuid.uuid4().hex, name=namespace),
        metadata=caller,
        timeout=60,
    )
    data = os.urandom(300_000)
    header = stpb.PutObjectHeader(
        request_id=uuid.uuid4().hex,
        namespace=namespace,
        name="hello.bin",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    parts = [stpb.PutObjectRequest(header=header)]
    parts += [stpb.PutObjectRequest(chunk=data[i : i + 65536]) for i in range(0, len(data), 65536)]
    put = storage.PutObject(iter(parts), metadata=caller, timeout=300)
    assert put.object.size == len(data)

    got = list(
        storage.GetObject(
            stpb.GetObjectRequest(namespace=namespace, name="hello.bin"),
            metadata=caller,
            timeout=300,
        )
    )
    assert got[0].WhichOneof("part") == "object"
    assert b"".join(m.chunk for m in got[1:]) == data


def test_scheduler_trigger_job_starts_a_run(stack: Stack) -> None:
    scheduler = scheduler_service_pb2_grpc.SchedulerServiceStub(stack.channels["scheduler"])
    admin = md("admin", "scheduler")
    request = spb.TriggerJobRequest(request_id=uuid.uuid4().hex, name="daily_digest")
    triggered = scheduler.TriggerJob(request, metadata=admin, timeout=60)
    assert triggered.run.job_name == "daily_digest"
    assert triggered.run.trigger == spb.RUN_TRIGGER_MANUAL
    # Stored: the run is there to read back, and a retry returns it rather than a second one.
    got = scheduler.GetRun(spb.GetRunRequest(id=triggered.run.id), metadata=admin, timeout=60)
    assert got.run.id == triggered.run.id
    again = scheduler.TriggerJob(request, metadata=admin, timeout=60)
    assert again.run.id == triggered.run.id


def test_prometheus_scrapes_every_service(stack: Stack, chats: Chats) -> None:
    def up() -> dict[str, list[float]]:
        by_service: dict[str, list[float]] = {}
        for r in stack.prometheus('up{job="zerog"}'):
            by_service.setdefault(r["metric"]["service"], []).append(float(r["value"][1]))
        return by_service if all(by_service.get(s) for s in ZEROG_SERVICES) else {}

    targets = eventually(up, "a scrape of every service")
    assert {s: v for s, v in targets.items()} == {s: [1.0] * EXPECTED[s] for s in ZEROG_SERVICES}

    def served() -> set[str]:
        found = {
            r["metric"]["service"] for r in stack.prometheus("zerog_grpc_server_handled_total")
        }
        return found if found >= set(ZEROG_SERVICES) else set()

    eventually(served, "RPC counters of every service")


def test_one_trace_spans_inference_and_the_provider_call(stack: Stack, chats: Chats) -> None:
    jaeger = stack.http("jaeger", 16686)
    trace_id = chats.trace_ids[0]

    def spans() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = get_json(f"{jaeger}/api/traces/{trace_id}")["spans"]
        names = {(s["service"], s["name"]) for s in found}
        return found if ("inference", CHAT) in names and provider_calls(found) else []

    found = eventually(spans, "the chat's spans")
    assert {s["trace_id"] for s in found} == {trace_id}

    # Settlement runs later, for many requests at once: its own trace, linked to this one.
    def settled() -> list[dict[str, Any]]:
        roots = [
            s
            for s in get_json(f"{jaeger}/api/spans?service=inference&name=settle")["spans"]
            if any(link["trace_id"] == trace_id for link in s["links"])
        ]
        if not roots:
            return []
        batch = get_json(f"{jaeger}/api/traces/{roots[0]['trace_id']}")["spans"]
        names = {(s["service"], s["name"]) for s in batch if s["kind"] == "SERVER"}
        quota = names & {("quota", QUOTA_SETTLES), ("quota", COMMIT_BATCH)}
        return batch if quota and ("broker", RECORD_USAGE) in names else []

    eventually(settled, "the linked settlement's quota and broker spans")


CHAT = "/zerog.inference.v1.InferenceService/ChatCompletion"
# The quota side of settlement: spends of a budget lease (the default), or reservation commits.
QUOTA_SETTLES = "/zerog.quota.v1.QuotaService/ReportLeaseSpends"
COMMIT_BATCH = "/zerog.quota.v1.QuotaService/CommitBatch"
RECORD_USAGE = "/zerog.broker.v1.BrokerService/RecordUsageBatch"


def provider_calls(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inference's HTTP client spans to a devnet provider (advertised as http://devnet:86xx)."""
    return [
        s
        for s in spans
        if s["service"] == "inference"
        and s["kind"] == "CLIENT"
        and any(str(v).startswith("http://devnet:86") for v in s["attributes"].values())
    ]


def test_both_broker_replicas_get_calls_from_inference(stack: Stack, chats: Chats) -> None:
    methods = "|".join(FROM_INFERENCE)
    query = (
        "sum by (instance) (zerog_grpc_server_handled_total"
        f'{{service="broker", grpc_method=~"{methods}"}})'
    )

    def per_replica() -> dict[str, float]:
        found = {r["metric"]["instance"]: float(r["value"][1]) for r in stack.prometheus(query)}
        return found if len(found) == 2 and all(found.values()) else {}

    assert len(eventually(per_replica, "calls on both broker replicas")) == 2
