"""Stored bytes go back to quota when their versions are deleted or expire, once each."""

from __future__ import annotations

import uuid

from google.protobuf.duration_pb2 import Duration

from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, namespace_name, put, rid
from zerog.quota.v1 import quota_service_pb2 as quota_pb
from zerog.storage.v1 import storage_service_pb2 as pb


async def _used(storage: Storage, subject: str) -> int:
    got = await storage.quota.stub.GetQuota(
        quota_pb.GetQuotaRequest(subject=subject), metadata=storage.quota.as_service("admin")
    )
    return next(u.used for u in got.usages if u.unit == quota_pb.UNIT_STORAGE_BYTES)


async def test_delete_gives_the_bytes_back_once(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    user = f"owner-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("q"), user=user)).name
    await put(storage, ns, "doc", content(3000), user=user)
    await put(storage, ns, "doc", content(1000), user=user)
    await put(storage, ns, "keep", content(500), user=user)
    assert await _used(storage, f"user:{user}") == 4500

    delete = pb.DeleteObjectRequest(request_id=rid(), namespace=ns, name="doc")
    md = storage.md("inference", user)
    assert (await storage.stub.DeleteObject(delete, metadata=md)).deleted_versions == 2
    assert await _used(storage, f"user:{user}") == 500
    # A retry replays the answer and gives nothing back twice.
    assert (await storage.stub.DeleteObject(delete, metadata=md)).deleted_versions == 2
    assert await _used(storage, f"user:{user}") == 500
    pending = await storage.pool.fetchval(
        "SELECT count(*) FROM objects WHERE namespace = $1 AND deleted_at IS NOT NULL"
        " AND quota_released_at IS NULL",
        ns,
    )
    assert pending == 0


async def test_expired_versions_give_their_bytes_back(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    user = f"owner-{uuid.uuid4().hex[:8]}"
    ns = (
        await create_namespace(
            storage,
            namespace_name("q"),
            user=user,
            retention=pb.RetentionPolicy(expire_after=Duration(seconds=3600)),
        )
    ).name
    await put(storage, ns, "old", content(2000), user=user)
    await put(storage, ns, "new", content(700), user=user)
    # "old" was stored two hours ago, past the namespace's one-hour retention.
    await storage.pool.execute(
        "UPDATE objects SET created_at = now() - interval '2 hours'"
        " WHERE namespace = $1 AND name = 'old'",
        ns,
    )
    applied = await storage.stub.ApplyRetention(
        pb.ApplyRetentionRequest(request_id=rid(), namespace=ns),
        metadata=storage.md("inference", user),
    )
    assert applied.expired_versions == 1
    assert await _used(storage, f"user:{user}") == 700
