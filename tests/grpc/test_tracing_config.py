"""OTEL_TRACES_SAMPLER (and _ARG) decide which traces are recorded, and every chain JSON-RPC
request gets a client span."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devnet import Devnet
from zerog_chain.networks import connect, network_profile
from zerog_grpc.settings import ConfigError
from zerog_grpc.tracing import _Provider, sampler_from_env, setup_tracing

SPANS = 200


def recorded(env: dict[str, str]) -> int:
    """How many of SPANS root spans a provider configured by `env` records."""
    memory = InMemorySpanExporter()
    provider = _Provider(Resource.create({"service.name": "sampled"}), sampler_from_env(env))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    for _ in range(SPANS):
        with tracer.start_as_current_span("root"):
            pass
    return len(memory.get_finished_spans())


def test_unset_records_every_trace() -> None:
    assert recorded({}) == SPANS


@pytest.mark.parametrize("name", ["always_off", "parentbased_always_off"])
def test_off_records_nothing(name: str) -> None:
    assert recorded({"OTEL_TRACES_SAMPLER": name}) == 0


def test_a_ratio_records_that_share_of_traces() -> None:
    assert recorded({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}) == 0
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}
    # Trace ids are random: 200 draws at 25 % land between 20 and 80 but for 1 in 10^9 runs.
    assert 20 <= recorded(env) <= 80


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "unsupported sampler"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, "a number"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, "between"),
    ],
)
def test_a_bad_sampler_is_a_configuration_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sampler_from_env(env)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """This process's spans in memory (the provider is process-wide: others may add theirs)."""
    memory = InMemorySpanExporter()
    setup_tracing("chain-test", env={}, extra_processor=SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()


async def test_chain_rpc_requests_are_client_spans(
    exported: InMemorySpanExporter, running_devnet: Devnet
) -> None:
    profile = network_profile("devnet", running_devnet.config.state_path)
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("caller") as caller:
        w3 = await connect(profile, running_devnet.state.rpc_url)
        await w3.eth.block_number
        await w3.provider.disconnect()
    trace_id = caller.get_span_context().trace_id
    chain = [
        s
        for s in exported.get_finished_spans()
        if s.context.trace_id == trace_id and s.name.startswith("chain ")
    ]
    assert {s.name for s in chain} >= {"chain eth_chainId", "chain eth_blockNumber"}
    assert all(s.kind is SpanKind.CLIENT for s in chain)
    assert all(
        s.parent is not None and s.parent.span_id == caller.get_span_context().span_id
        for s in chain
    )
    assert all(running_devnet.state.rpc_url not in str(s.attributes) for s in chain)
