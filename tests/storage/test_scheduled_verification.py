"""Verification and retention on a schedule: two replicas, one run per period, no RPC needed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import ErrorInfo, QuotaFailure

from devnet.storage_node import StorageNetwork, StorageNodeProcess
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, namespace_name, put
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail

DEADLINE = 60.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds; fail after DEADLINE seconds."""
    async with asyncio.timeout(DEADLINE):
        while not await check():  # noqa: ASYNC110  (the state is in another process's hands)
            await asyncio.sleep(0.1)
    assert await check(), what


def flagged_alerts(storage: Storage) -> float:
    periodic = storage.server.periodic
    assert periodic is not None
    registry = periodic.metrics.registry
    return sum(
        registry.get_sample_value("zerog_storage_flagged_objects_total", {"state": s}) or 0.0
        for s in ("lost", "degraded")
    )


async def test_lost_data_is_flagged_and_alerted_by_one_replica_within_a_period(
    start_storage_node: Callable[..., StorageNodeProcess],
    start_storage: StartStorage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = start_storage_node()
    replicas = [await start_storage([node.url], VERIFY_PERIOD_SECONDS="1") for _ in range(2)]
    first = replicas[0]
    ns = (await create_namespace(first, namespace_name("watched"))).name
    stored = await put(first, ns, "kept", content(3000))
    root = bytes.fromhex(stored.object.root[2:])
    state = "SELECT verify_state FROM contents WHERE root = $1"

    async def verified() -> bool:
        return bool(await first.pool.fetchval(state, root) == "verified")

    await eventually(verified, "the schedule verifies new content")
    caplog.set_level(logging.ERROR, logger="services.storage.periodic")
    lost_at: datetime = await first.pool.fetchval("SELECT now()")
    assert node.lose_file(root)

    async def flagged() -> bool:
        return bool(await first.pool.fetchval(state, root) == "lost")

    await eventually(flagged, "the schedule flags the lost content")

    # Alerted once, by one replica: the counter and the log line.
    async def alerted() -> bool:
        return sum(flagged_alerts(r) for r in replicas) == 1

    await eventually(alerted, "one alert across the replicas")
    lines = [r for r in caplog.records if r.getMessage() == "storage objects flagged"]
    assert [r.__dict__["root"] for r in lines] == [stored.object.root]
    assert lines[0].__dict__["objects"] == [f"{ns}/kept@1"]
    # Within one period: the first verification run that started after the loss flagged it (or
    # an earlier one that was still checking when the file went).
    runs = await first.pool.fetch(
        "SELECT period_start, started_at, replica, flagged FROM job_runs"
        " WHERE job = 'verification' AND finished_at IS NOT NULL ORDER BY period_start"
    )
    first_after = next(r for r in runs if r["started_at"] > lost_at)
    flagging = [r for r in runs if r["flagged"]]
    assert len(flagging) == 1 and flagging[0]["period_start"] <= first_after["period_start"]
    # One run per period in all: each claimed by exactly one replica, none run unclaimed.
    periodics = [r.server.periodic for r in replicas if r.server.periodic is not None]
    ran = sum(
        p.metrics.registry.get_sample_value(
            "zerog_storage_scheduled_runs_total", {"job": "verification"}
        )
        or 0.0
        for p in periodics
    )
    claimed = await first.pool.fetchval("SELECT count(*) FROM job_runs WHERE job = 'verification'")
    assert ran == claimed
    assert {r["replica"] for r in runs} <= {p.replica for p in periodics}


async def test_keep_versions_is_applied_on_schedule(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (
        await create_namespace(
            storage, namespace_name("kept"), retention=pb.RetentionPolicy(keep_versions=2)
        )
    ).name
    for _ in range(3):
        await put(storage, ns, "doc", content(500))
    # A replica with the schedule on; no RPC asks for retention.
    await start_storage([n.url for n in storage_network.nodes], VERIFY_PERIOD_SECONDS="1")
    live = "SELECT array_agg(version ORDER BY version) FROM objects WHERE namespace = $1" + (
        " AND deleted_at IS NULL"
    )

    async def pruned() -> bool:
        return bool(await storage.pool.fetchval(live, ns) == [2, 3])

    await eventually(pruned, "retention keeps the two newest versions")
    listed = await storage.stub.ListObjects(
        pb.ListObjectsRequest(namespace=ns, all_versions=True), metadata=storage.md()
    )
    assert [o.version for o in listed.objects] == [2, 3]


async def test_expired_versions_are_deleted_on_schedule(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (
        await create_namespace(
            storage,
            namespace_name("expiring"),
            retention=pb.RetentionPolicy(expire_after=Duration(seconds=1)),
        )
    ).name
    await put(storage, ns, "old", content(400))
    await start_storage([n.url for n in storage_network.nodes], VERIFY_PERIOD_SECONDS="1")
    gone = "SELECT bool_and(deleted_at IS NOT NULL) FROM objects WHERE namespace = $1"

    async def expired() -> bool:
        return bool(await storage.pool.fetchval(gone, ns))

    await eventually(expired, "the version expires")


async def test_namespace_byte_quota_refuses_the_put_that_would_pass_it(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("small"), quota_bytes=1000)).name
    await put(storage, ns, "a", content(600))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(storage, ns, "b", content(600))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    failure = unpack_detail(caught.value, QuotaFailure)
    assert failure is not None and failure.violations[0].subject == f"namespace:{ns}"
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "NAMESPACE_QUOTA_EXCEEDED"
    assert info.metadata["used"] == "600"
    # What fits still goes in: the limit counts the caller's bytes, not the sealed ones.
    await put(storage, ns, "c", content(400))
    got = await storage.stub.GetNamespace(pb.GetNamespaceRequest(name=ns), metadata=storage.md())
    assert got.namespace.used_bytes == 1000
