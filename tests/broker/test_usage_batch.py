"""RecordUsageBatch: each record as RecordUsage would make it, refusals per item, replays."""

from __future__ import annotations

import grpc
import pytest

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb

UNKNOWN = "0x" + "ab" * 20


def _usage(request_id: str, provider: str, fee: int) -> pb.RecordUsageRequest:
    return pb.RecordUsageRequest(
        request_id=request_id,
        provider=provider,
        input_tokens=3,
        output_tokens=4,
        fee_neuron=str(fee),
    )


async def test_batch_records_each_once_and_refuses_per_item(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    provider = devnet_provider.provider
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c1", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    batch = pb.RecordUsageBatchRequest(
        records=[_usage("u1", provider, 70), _usage("u2", UNKNOWN, 5), _usage("u3", provider, 30)]
    )

    answer = await broker.stub.RecordUsageBatch(batch, metadata=broker.md("inference"))
    # Sent again (its acknowledgement lost): replayed, nothing recorded twice.
    again = await broker.stub.RecordUsageBatch(batch, metadata=broker.md("inference"))

    first, refused, third = answer.results
    assert first.recorded.fee_neuron == "70"
    assert third.recorded.recorded_total_neuron == "100"
    assert (refused.error.code, refused.error.reason) == ("NOT_FOUND", "PROVIDER_NOT_FOUND")
    assert again.results[0] == first and again.results[2] == third
    total = await broker.pool.fetchval("SELECT total_neuron FROM usage_totals")
    assert int(total) == 100


async def test_empty_batch_is_invalid(broker: Broker) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await broker.stub.RecordUsageBatch(
            pb.RecordUsageBatchRequest(), metadata=broker.md("inference")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
