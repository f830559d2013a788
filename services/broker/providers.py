"""Provider discovery: every inference service on chain, cached with a TTL and refreshed in
the background, so listing never waits on the chain once the cache is warm."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from services.broker.errors import ProviderNotFound
from zerog_chain import ChainError, ComputeContracts, ServiceInfo
from zerog_grpc import monotonic, utc_now

log = logging.getLogger("services.broker")


class ProviderCache:
    """Services by provider address; `get` reads through to the chain on a miss."""

    def __init__(self, compute: ComputeContracts, ttl_seconds: float) -> None:
        self._compute = compute
        self._ttl = ttl_seconds
        self._services: dict[str, ServiceInfo] = {}
        self._loaded_at = 0.0
        self.refreshed_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read every service from the chain now."""
        async with self._lock:
            services = await self._compute.all_services()
            self._services = {s.provider.lower(): s for s in services}
            self._loaded_at = monotonic()
            self.refreshed_at = utc_now()

    async def all(self) -> list[ServiceInfo]:
        """Every service, refreshed first when the cache is empty or older than the TTL."""
        if self.refreshed_at is None or monotonic() - self._loaded_at > self._ttl:
            await self.refresh()
        return sorted(self._services.values(), key=lambda s: s.provider.lower())

    async def get(self, provider: str) -> ServiceInfo:
        """One provider's service (cached, else read from the chain); ProviderNotFound."""
        cached = self._services.get(provider.lower())
        if cached is not None and monotonic() - self._loaded_at <= self._ttl:
            return cached
        service = await self._compute.get_service(provider)
        if service is None:
            raise ProviderNotFound(provider)
        self._services[provider.lower()] = service
        return service

    def start(self) -> None:
        """Refresh every TTL in the background."""
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except ChainError as error:
                log.warning("provider refresh failed", extra={"error": type(error).__name__})
            await asyncio.sleep(self._ttl)

    async def stop(self) -> None:
        """Stop the background refresh."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
