"""A put's quota reservation lasts as long as the put may, and a stored put's bytes are charged
even when its commit failed: the retry commits them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
import pytest

from devnet.storage_node import StorageNetwork, StorageNodeProcess
from services.storage.config import Config
from tests.faults.tcp_proxy import TcpProxy
from tests.storage.conftest import Deps, StartStorage
from tests.storage.helpers import content, create_namespace, namespace_name, put, rid
from tests.support import STORAGE_MASTER_KEY, auth_env
from zerog.quota.v1 import quota_service_pb2 as quota_pb
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc.settings import ConfigError

BASE = {
    "DATABASE_URL": "postgresql://x/y",
    **auth_env("storage"),
    "STORAGE_MASTER_KEY": STORAGE_MASTER_KEY,
    "STORAGE_NODES": "http://127.0.0.1:1",
}


def test_reservation_ttl_covers_the_put_deadline_unless_set() -> None:
    derived = Config.from_env(BASE)
    # Submission 180 s, tx wait 120 s, sending 120 s, finality 300 s.
    assert derived.reservation_ttl() == 720
    longer = Config.from_env(
        {**BASE, "UPLOAD_TX_TIMEOUT_SECONDS": "600", "UPLOAD_FINALITY_TIMEOUT_SECONDS": "900"}
    )
    assert longer.reservation_ttl() >= 600 + 900
    assert Config.from_env({**BASE, "QUOTA_RESERVATION_TTL_SECONDS": "2"}).reservation_ttl() == 2
    with pytest.raises(ConfigError, match="QUOTA_RESERVATION_TTL_SECONDS"):
        Config.from_env({**BASE, "QUOTA_RESERVATION_TTL_SECONDS": "3601"})


async def test_a_put_reserves_its_bytes_for_the_whole_upload_deadline(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    user = f"owner-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("ttl"), user=user)).name
    await put(storage, ns, "doc", content(2000), user=user)

    row = await storage.quota.pool.fetchrow(
        "SELECT expires_at - created_at AS ttl, state FROM reservations"
        " WHERE subject = $1 AND operation = 'storage.put'",
        f"user:{user}",
    )
    assert row is not None and row["state"] == "committed"
    # Quota's default (60 s) is shorter than the tx and finality waits alone.
    waits = storage.config.tx_timeout_seconds + storage.config.finality_timeout_seconds
    assert row["ttl"].total_seconds() >= waits
    assert row["ttl"].total_seconds() == storage.config.reservation_ttl()


async def test_a_put_whose_commit_failed_is_charged_by_its_retry(
    start_storage: StartStorage,
    storage_deps: Deps,
    start_storage_node: Callable[..., StorageNodeProcess],
) -> None:
    node = start_storage_node()
    proxy = TcpProxy("127.0.0.1", storage_deps.quota.server.port)
    await proxy.restore()
    storage = await start_storage([node.url], QUOTA_ADDRESS=f"127.0.0.1:{proxy.port}")
    user = f"owner-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("retry"), user=user)).name
    data, request_id = content(3000), rid()

    node.set_faults(hold_writes=True)
    try:
        first = asyncio.ensure_future(
            put(storage, ns, "doc", data, user=user, request_id=request_id)
        )

        async def paid() -> bool:
            assert not first.done(), first
            state = await storage.pool.fetchval(
                "SELECT state FROM uploads WHERE request_id = $1", request_id
            )
            return bool(state == "submitted")

        await _eventually(paid, "the put's Flow submission")
        # Quota is unreachable from now on: the upload completes, its commit cannot.
        await proxy.cut()
    finally:
        node.set_faults(hold_writes=False)
    with pytest.raises(grpc.aio.AioRpcError):
        await first
    state = await storage.pool.fetchval(
        "SELECT state FROM uploads WHERE request_id = $1", request_id
    )
    assert state == "stored"

    await proxy.restore()
    retried: list[pb.PutObjectResponse] = []

    async def retry() -> bool:
        # As a caller does: UNAVAILABLE until storage's channel to quota reconnects.
        try:
            retried.append(await put(storage, ns, "doc", data, user=user, request_id=request_id))
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            return False
        return True

    try:
        await _eventually(retry, "the retried put")
        again = retried[0]
        replayed = await put(storage, ns, "doc", data, user=user, request_id=request_id)
    finally:
        await proxy.cut()
    assert again.object == replayed.object and again.object.size == len(data)
    got = await storage.quota.stub.GetQuota(
        quota_pb.GetQuotaRequest(subject=f"user:{user}"), metadata=storage.quota.as_service("admin")
    )
    used = {u.unit: (u.used, u.reserved) for u in got.usages}
    assert used[quota_pb.UNIT_STORAGE_BYTES] == (len(data), 0)
    records = await storage.quota.pool.fetchval(
        "SELECT count(*) FROM cost_records WHERE subject = $1", f"user:{user}"
    )
    assert records == 1


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while not await check():
        assert loop.time() < deadline, f"not within 60 s: {what}"
        await asyncio.sleep(0.05)
