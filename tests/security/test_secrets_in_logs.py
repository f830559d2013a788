"""A broker + inference flow (API key, chat) at log level DEBUG with every span kept in memory:
no log record and no span attribute holds the wallet key, the JWT secret or a session token,
and no record at INFO or above holds the user's prompt."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devnet.provider import ProviderProcess
from tests.stack import Stack
from tests.support import private_key_text
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog_grpc.jsonlog import JsonFormatter

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub
    from zerog.inference.v1.inference_service_pb2_grpc import InferenceServiceAsyncStub


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends while the test runs."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()


async def test_no_secret_in_any_log_or_span(
    stack: Stack,
    devnet_provider: ProviderProcess,
    caplog: pytest.LogCaptureFixture,
    spans: InMemorySpanExporter,
) -> None:
    caplog.set_level(logging.DEBUG)
    await stack.start("inference", providers=[devnet_provider])
    broker: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(
        stack.channels["broker"]
    )
    key = await broker.CreateApiKey(
        bpb.CreateApiKeyRequest(request_id="k", provider=devnet_provider.provider, label="ci"),
        metadata=stack.md("broker"),
    )
    assert key.authorization  # the bearer header handed to the app, once
    chat: InferenceServiceAsyncStub = inference_service_pb2_grpc.InferenceServiceStub(
        stack.channels["inference"]
    )
    prompt = f"my secret plan number {uuid.uuid4().hex} is private"
    reply = await chat.ChatCompletion(
        pb.ChatCompletionRequest(
            request_id=uuid.uuid4().hex,
            subject="user:secrets",
            model=str(devnet_provider.info()["model"]),
            messages=[pb.ChatMessage(role=pb.CHAT_ROLE_USER, content=prompt)],
            max_tokens=8,
            routing=pb.RoutingOptions(provider=devnet_provider.provider),
        ),
        metadata=stack.md("inference", "app"),
    )
    assert reply.choices

    formatter = JsonFormatter("test")
    records = [(r.levelno, formatter.format(r)) for r in caplog.records]
    attributes = [
        f"{s.name} {dict(s.attributes or {})} {[dict(e.attributes or {}) for e in s.events]}"
        for s in spans.get_finished_spans()
    ]
    assert records and attributes
    wallet_key = bytes(stack.wallet.key).hex()
    everything = "\n".join([*(text for _, text in records), *attributes])
    secrets = {
        "wallet key": wallet_key,
        "signing key": private_key_text("inference"),
        "session token": "app-sk-",
    }
    secrets["API key header"] = key.authorization.removeprefix("Bearer ")
    leaked = [name for name, value in secrets.items() if value and value in everything]
    assert leaked == []
    loud = [text for level, text in records if level >= logging.INFO and prompt in text]
    assert loud == []
