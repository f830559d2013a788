"""SubmitStorage: pays a Flow submission once per request_id, refuses fees above the maximum."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.broker.conftest import Broker
from tests.retrying import once_done
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


def _submission(seed: int) -> pb.FlowSubmission:
    # One 256-byte chunk: a single node of height 0.
    return pb.FlowSubmission(length=256, nodes=[pb.FlowNode(root=bytes([seed]) * 32, height=0)])


async def test_submit_pays_once_per_request_id(broker: Broker) -> None:
    md = broker.md("storage")
    request = pb.SubmitStorageRequest(request_id="up-1", submissions=[_submission(7)])

    # Concurrent duplicates are told to come back while the first runs; they then replay it.
    first, *retries = await asyncio.gather(
        *(once_done(lambda: broker.stub.SubmitStorage(request, metadata=md)) for _ in range(3))
    )

    assert first.tx_hash and len(first.tx_seqs) == 1 and int(first.fee_neuron) > 0
    assert all(r.tx_hash == first.tx_hash and r.tx_seqs == first.tx_seqs for r in retries)
    assert sorted(a.replayed for a in (first, *retries)) == [False, True, True]
    paid = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose = 'STORAGE_SUBMIT'"
    )
    assert paid == 1


async def test_fee_above_maximum_is_refused_before_paying(broker: Broker) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.SubmitStorage(
            pb.SubmitStorageRequest(
                request_id="up-2", submissions=[_submission(8)], max_fee_neuron="1"
            ),
            metadata=broker.md("storage"),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "FEE_ABOVE_MAXIMUM"
    assert await broker.pool.fetchval("SELECT count(*) FROM transactions") == 0


async def test_invalid_submission_lists_the_field(broker: Broker) -> None:
    bad = pb.FlowSubmission(length=256, nodes=[pb.FlowNode(root=b"short", height=0)])
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.SubmitStorage(
            pb.SubmitStorageRequest(request_id="up-3", submissions=[bad]),
            metadata=broker.md("storage"),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
