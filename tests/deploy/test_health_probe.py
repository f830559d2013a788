"""The image's healthcheck script against a real zerog_grpc server: SERVING passes, else fails."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from tests.support import Access
from tools import health_probe
from zerog_grpc import start_server

SERVICE = "zerog.quota.v1.QuotaService"


async def test_probe_follows_the_servers_health() -> None:
    running = await start_server(
        "127.0.0.1:0",
        [SERVICE],
        lambda server: None,
        Access("quota"),
        CollectorRegistry(),
        serving=False,
    )
    address = f"127.0.0.1:{running.port}"
    try:
        probe = asyncio.to_thread
        assert await probe(health_probe.status, address, SERVICE) == "NOT_SERVING"
        assert await probe(health_probe.main, ["probe", address, SERVICE]) == 1
        await running.set_serving(True)
        assert await probe(health_probe.main, ["probe", address, SERVICE]) == 0
        assert await probe(health_probe.main, ["probe", address]) == 0
        assert await probe(health_probe.status, address, "zerog.nope.v1.X") == "NOT_FOUND"
    finally:
        await running.stop(0)
    assert await asyncio.to_thread(health_probe.main, ["probe", address]) == 1
