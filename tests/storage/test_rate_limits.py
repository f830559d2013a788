"""PutObject counts against the namespace owner's rate limits (per tier), before anything is
received, reserved or uploaded."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage
from tests.storage.helpers import (
    content,
    create_namespace,
    flow_submissions,
    namespace_name,
    put,
    rid,
    sealed_bytes,
)
from zerog.quota.v1 import quota_service_pb2 as quota_pb
from zerog_grpc import unpack_detail


async def test_a_put_over_the_owners_tier_limit_is_refused_before_any_upload(
    storage_network: StorageNetwork,
    start_storage: StartStorage,
    running_devnet: Devnet,
    devnet_w3: Web3,
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    quota = storage.quota
    admin = quota.as_service("admin")
    # Two puts a minute for premium subjects; free subjects keep the defaults (10 a minute).
    await quota.stub.SetRateLimit(
        quota_pb.SetRateLimitRequest(
            limit=quota_pb.RateLimit(
                method="PutObject", window=Duration(seconds=60), max_requests=2, tier="premium"
            )
        ),
        metadata=admin,
    )
    dora, eve = (f"{who}-{uuid.uuid4().hex[:8]}" for who in ("dora", "eve"))
    await quota.stub.SetSubjectTier(
        quota_pb.SetSubjectTierRequest(subject=f"user:{dora}", tier="premium"), metadata=admin
    )
    ns = (await create_namespace(storage, namespace_name("rate"), user=dora)).name
    other = (await create_namespace(storage, namespace_name("rate"), user=eve)).name

    for n in range(2):
        await put(storage, ns, f"doc-{n}", content(1500), user=dora)
    reserved = await quota.pool.fetchval(
        "SELECT count(*) FROM reservations WHERE subject = $1", f"user:{dora}"
    )
    data, request_id = content(1500), rid()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await put(storage, ns, "doc-2", data, user=dora, request_id=request_id)

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = unpack_detail(raised.value, error_details_pb2.RetryInfo)
    assert retry is not None and 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 60
    failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
    assert failure is not None and failure.violations[0].subject == f"user:{dora}:PutObject"
    # Nothing happened for it: no upload journaled, no bytes reserved, nothing paid on chain.
    journaled = await storage.pool.fetchval(
        "SELECT count(*) FROM uploads WHERE request_id = $1", request_id
    )
    assert journaled == 0
    assert (
        await quota.pool.fetchval(
            "SELECT count(*) FROM reservations WHERE subject = $1", f"user:{dora}"
        )
        == reserved
    )
    sealed = await sealed_bytes(storage.pool, ns, data)
    assert flow_submissions(devnet_w3, running_devnet.state.contracts.flow, sealed) == 0

    # A free-tier owner is not held to premium's rule; the same put passes once the minute has.
    for n in range(3):
        await put(storage, other, f"doc-{n}", content(1500), user=eve)
    quota.clock.advance(seconds=61)
    stored = await put(storage, ns, "doc-2", data, user=dora, request_id=request_id)
    assert stored.object.version == 1
