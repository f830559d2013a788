"""Storage-node breakers: a dead node is refused at once, then tried again after a cool-down;
upload polls back off exponentially with jitter."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import grpc
import pytest
from google.rpc.error_details_pb2 import ErrorInfo

from devnet.storage_node import StorageNodeProcess
from tests.storage.conftest import (  # noqa: F401  (fixtures used here)
    StartStorage,
    start_storage,
    storage_db_url,
    storage_deps,
    storage_template,
)
from tests.storage.helpers import content, create_namespace, get, namespace_name, put
from zerog_grpc import unpack_detail
from zerog_storage.errors import RpcTransportError
from zerog_storage.resilience import Breakers, BreakerSettings, CircuitOpen, backoff

DEADLINE = 60.0


def test_backoff_doubles_to_its_ceiling_with_jitter() -> None:
    low = list(itertools.islice(backoff(0.5, 4.0, rng=lambda: 0.0), 6))
    high = list(itertools.islice(backoff(0.5, 4.0, rng=lambda: 1.0), 6))
    assert low == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert high == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    drawn = list(itertools.islice(backoff(0.5, 4.0), 50))
    assert all(
        lo <= d <= hi for lo, d, hi in zip(low + [2.0] * 44, drawn, high + [4.0] * 44, strict=True)
    )
    assert len(set(drawn)) > 1  # jittered, not a fixed interval


async def test_breaker_opens_after_transport_failures_only() -> None:
    breakers = Breakers(BreakerSettings(fail_max=2, cool_down_seconds=60))
    url = "http://node.invalid"

    async def refused() -> None:
        raise RpcTransportError("zgs_getStatus", url, "connection refused")

    async def answered_with_error() -> None:
        raise ValueError("the node answered")

    for _ in range(3):
        with pytest.raises(ValueError):
            await breakers.call(url, "m", answered_with_error)
    assert breakers.state(url) == "closed"
    for _ in range(2):
        with pytest.raises(RpcTransportError):
            await breakers.call(url, "m", refused)
    assert breakers.state(url) == "open"
    sent = []

    async def would_succeed() -> None:
        sent.append(1)

    with pytest.raises(CircuitOpen):
        await breakers.call(url, "m", would_succeed)
    assert sent == []  # refused without calling


async def test_a_dead_node_is_refused_fast_then_tried_again(
    start_storage_node: Callable[..., StorageNodeProcess],
    start_storage: StartStorage,  # noqa: F811  (the imported fixture)
) -> None:
    node = start_storage_node()
    storage = await start_storage(
        [node.url], NODE_BREAKER_FAIL_MAX="2", NODE_BREAKER_COOL_DOWN_SECONDS="2"
    )
    ns = (await create_namespace(storage, namespace_name("breaker"))).name
    data = content(2000)
    await put(storage, ns, "f", data)
    breakers = storage.server.nodes.breakers
    assert breakers is not None

    node.set_faults(outage=True)
    async with asyncio.timeout(DEADLINE):
        while breakers.state(node.url) != "open":
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await get(storage, ns, "f")
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    # The node is back, but the open breaker still refuses without asking it.
    node.set_faults(outage=False)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await get(storage, ns, "f")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    info = unpack_detail(refused.value, ErrorInfo)
    assert info is not None and info.reason.startswith("STORAGE_NODE")
    assert breakers.state(node.url) == "open"

    # After the cool-down a trial call goes through and closes it.
    async with asyncio.timeout(DEADLINE):
        while True:
            try:
                _, got = await get(storage, ns, "f")
                break
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(0.2)
    assert got == data
    assert breakers.state(node.url) == "closed"
