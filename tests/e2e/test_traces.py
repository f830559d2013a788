"""One trace across the services (issue 5 acceptance 7, issue 8 acceptance 3).

The process-wide tracer provider is installed through zerog_grpc.tracing with an in-memory
exporter before any server starts; quota, broker, storage and inference then run in-process
through their production server.start() (tests/stack.py), with a devnet provider and the
devnet storage network. A client span wraps a chat-session message and its archive.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence

import grpc.aio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devnet import Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess, ProviderSpec, launch_providers
from devnet.storage_node import StorageNetwork
from tests.stack import Stack, stack, stack_db_url  # noqa: F401  (fixtures)
from tests.support import auth_metadata, private_key_text
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc import client_interceptors
from zerog_grpc.tracing import setup_tracing

SESSION_SEND = "/zerog.inference.v1.ChatSessionService/SendChatMessage"
SESSION_ARCHIVE = "/zerog.inference.v1.ChatSessionService/ArchiveChatSession"
RESERVE = "/zerog.quota.v1.QuotaService/Reserve"
COMMIT = "/zerog.quota.v1.QuotaService/Commit"
CREDENTIALS = "/zerog.broker.v1.BrokerService/GetRequestCredentials"
RECORD_USAGE = "/zerog.broker.v1.BrokerService/RecordUsageBatch"
ACQUIRE_LEASE = "/zerog.quota.v1.QuotaService/AcquireLease"
REPORT_SPENDS = "/zerog.quota.v1.QuotaService/ReportLeaseSpends"
PUT_OBJECT = "/zerog.storage.v1.StorageService/PutObject"
SUBMIT_STORAGE = "/zerog.broker.v1.BrokerService/SubmitStorage"
EXPECTED_SERVER_SPANS = {
    SESSION_SEND,
    SESSION_ARCHIVE,
    RESERVE,
    COMMIT,
    CREDENTIALS,
    ACQUIRE_LEASE,
    PUT_OBJECT,
    SUBMIT_STORAGE,
}


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this process, kept in memory (installed before the stack's servers start)."""
    memory = InMemorySpanExporter()
    setup_tracing("zerog-e2e", env={}, extra_processor=SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()  # later spans of the session are dropped, not kept


@pytest.fixture(scope="module")
def provider(running_devnet: Devnet, deployer: Transactor) -> Iterator[ProviderProcess]:
    (process,) = launch_providers(
        running_devnet.state,
        [ProviderSpec(model=f"trace-{uuid.uuid4().hex[:8]}", settle_interval=0)],
        deployer,
    )
    yield process
    process.stop()


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """The span's parents up to the root (stops at a parent that was not exported)."""
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def _strings(span: ReadableSpan) -> Iterator[str]:
    """Every text a span carries: name, attribute values, event names and attributes."""
    yield span.name
    attribute_sets = [span.attributes or {}, *((e.attributes or {}) for e in span.events)]
    yield from (e.name for e in span.events)
    for attributes in attribute_sets:
        for value in attributes.values():
            values: Sequence[object] = value if isinstance(value, list | tuple) else [value]
            yield from (str(v) for v in values)


async def _trace_spans(
    exporter: InMemorySpanExporter, trace_id: int
) -> tuple[list[ReadableSpan], dict[int, ReadableSpan]]:
    """The trace's finished spans, once every expected one ended and none lacks its parent.

    Server spans end just after their response is sent, so the client may see the answer
    first: poll a bounded number of times (the assertions below report what is missing).
    """
    spans: list[ReadableSpan] = []
    by_id: dict[int, ReadableSpan] = {}
    for _ in range(200):
        spans = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]
        by_id = {s.context.span_id: s for s in spans}
        names = {s.name for s in spans if s.kind is SpanKind.SERVER}
        orphans = [s for s in spans if s.parent is not None and s.parent.span_id not in by_id]
        if names >= EXPECTED_SERVER_SPANS and not orphans:
            break
        await asyncio.sleep(0.05)
    return spans, by_id


async def _settling(exporter: InMemorySpanExporter, span_id: int) -> list[ReadableSpan]:
    """The spans of the settlement batch whose root links to span `span_id`, once its
    commit and usage record are exported (a bounded number of polls)."""
    found: list[ReadableSpan] = []
    for _ in range(200):
        spans = exporter.get_finished_spans()
        roots = [
            s
            for s in spans
            if s.name == "settle" and any(link.context.span_id == span_id for link in s.links)
        ]
        if roots:
            trace_id = roots[0].context.trace_id
            found = [s for s in spans if s.context.trace_id == trace_id]
            if {REPORT_SPENDS, RECORD_USAGE} <= {s.name for s in found}:
                return found
        await asyncio.sleep(0.05)
    return found


async def test_one_trace_covers_inference_quota_broker_provider_and_storage(
    exporter: InMemorySpanExporter,
    stack: Stack,  # noqa: F811  (the imported fixture)
    storage_network: StorageNetwork,
    provider: ProviderProcess,
) -> None:
    await stack.start("storage", nodes=[n.url for n in storage_network.nodes])
    await stack.start(
        "inference",
        providers=[provider],
        env={"inference": {"STORAGE_ADDRESS": stack.address("storage")}},
    )
    channel = grpc.aio.insecure_channel(
        stack.address("inference"), interceptors=client_interceptors()
    )
    sessions = inference_service_pb2_grpc.ChatSessionServiceStub(channel)
    md = auth_metadata("scheduler", "inference", "tracy")
    model = provider.ready["model"]
    exporter.clear()

    tracer = trace.get_tracer("tests.e2e.traces")
    with tracer.start_as_current_span("client: chat and archive") as root:
        created = await sessions.CreateChatSession(
            pb.CreateChatSessionRequest(request_id="c", title="traced", model=model),
            metadata=md,
        )
        sid = created.session.session_id
        sent = await sessions.SendChatMessage(
            pb.SendChatMessageRequest(request_id="m", session_id=sid, content="hello trace"),
            metadata=md,
        )
        archived = await sessions.ArchiveChatSession(
            pb.ArchiveChatSessionRequest(request_id="a", session_id=sid), metadata=md
        )
    await channel.close()
    trace_id = root.get_span_context().trace_id
    spans, by_id = await _trace_spans(exporter, trace_id)

    # One trace id: the server spans of inference, quota, broker and storage are all in it.
    server: dict[str, list[ReadableSpan]] = {}
    for s in spans:
        if s.kind is SpanKind.SERVER:
            server.setdefault(s.name, []).append(s)
    assert set(server) >= EXPECTED_SERVER_SPANS, sorted(set(server))
    # Parent/child links intact: every span's parent was exported, all lead to the client span.
    orphans = [s.name for s in spans if s.parent is not None and s.parent.span_id not in by_id]
    assert orphans == []
    root_id = root.get_span_context().span_id
    assert all(
        s.context.span_id == root_id or _ancestors(s, by_id)[-1].context.span_id == root_id
        for s in spans
    )

    def callers(name: str) -> list[set[str]]:
        """For each server span of `name`: the names of its ancestors."""
        return [{a.name for a in _ancestors(s, by_id)} for s in server[name]]

    def one(name: str) -> ReadableSpan:
        (span,) = server[name]
        return span

    # The subject's first call leases budget for this replica (later ones spend it here).
    for called in (ACQUIRE_LEASE, CREDENTIALS):
        assert any(SESSION_SEND in c for c in callers(called)), called
    # Storage reserves and commits its bytes at quota, and pays through the broker.
    for called in (RESERVE, COMMIT, SUBMIT_STORAGE):
        assert any({PUT_OBJECT, SESSION_ARCHIVE} <= c for c in callers(called)), called

    # The provider HTTP call: an httpx client span below the message's server span.
    def url(span: ReadableSpan) -> str:
        attributes = span.attributes or {}
        return str(attributes.get("url.full", attributes.get("http.url", "")))

    chat_url = provider.url.rstrip("/") + "/v1/proxy/chat/completions"
    http = [s for s in spans if s.kind is SpanKind.CLIENT and url(s) == chat_url]
    assert len(http) == 1, [url(s) for s in spans if s.kind is SpanKind.CLIENT]
    assert SESSION_SEND in [a.name for a in _ancestors(http[0], by_id)]
    status = (http[0].attributes or {}).get(
        "http.response.status_code", (http[0].attributes or {}).get("http.status_code")
    )
    assert status == 200

    # Useful attributes: who answered, the model, tokens, cost, the archive's merkle root.
    send = one(SESSION_SEND).attributes or {}
    assert str(send["zerog.routing.provider"]).lower() == provider.provider.lower()
    assert send["gen_ai.request.model"] == model
    assert send["gen_ai.usage.input_tokens"] == sent.usage.prompt_tokens
    assert send["gen_ai.usage.output_tokens"] == sent.usage.completion_tokens
    assert send["zerog.cost.micro_usd"] == sent.cost.cost_micro_usd
    assert send["zerog.cost.fee_neuron"] == sent.cost.fee_neuron
    credentials = one(CREDENTIALS).attributes or {}
    assert str(credentials["zerog.provider"]).lower() == provider.provider.lower()
    assert credentials["zerog.model"] == model
    # Settlement is off the request path: the settler's batch is a trace of its own whose root
    # links to the message's server span; the lease spend at quota and the broker's record are
    # in it.
    send_context = one(SESSION_SEND).context
    settled = await _settling(exporter, send_context.span_id)
    assert {REPORT_SPENDS, RECORD_USAGE} <= {s.name for s in settled if s.kind is SpanKind.SERVER}
    (usage,) = [
        s.attributes or {} for s in settled if s.name == RECORD_USAGE and s.kind is SpanKind.SERVER
    ]
    assert usage["zerog.usage.output_tokens"] == sent.usage.completion_tokens
    assert usage["zerog.fee_neuron"] == sent.cost.fee_neuron
    root_hash = (one(PUT_OBJECT).attributes or {})["zerog.storage.merkle_root"]
    assert str(root_hash).startswith("0x") and len(str(root_hash)) == 66
    archive = one(SESSION_ARCHIVE).attributes or {}
    assert archive["zerog.storage.merkle_root"] == root_hash
    assert archive["zerog.archive.id"] == archived.session.archive_id
    paid = (one(SUBMIT_STORAGE).attributes or {})["zerog.storage.merkle_roots"]
    assert isinstance(paid, tuple | list) and root_hash in paid

    # No secrets: no JWT (ours or any), no 0G session token, no wallet or signing key.
    wallet_key = bytes(stack.wallet.key).hex()
    jwt = md[0][1].split()[-1]
    texts = [t for s in spans for t in _strings(s)]
    for secret in ("app-sk-", "eyJ", jwt, private_key_text("inference"), wallet_key):
        assert not [t for t in texts if secret.lower() in t.lower()], secret
