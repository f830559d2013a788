"""Extension point: services the launcher starts after the chain (devnet provider, storage node).

A service gets the chain's DevnetState (RPC URL, contract addresses, funded keys), starts
itself (typically as a child process through devnet.process.spawn, so that it dies with the
devnet) and returns a handle. What the handle's info() returns is published in the state file
under services.<name>, e.g. {"url": "http://127.0.0.1:8123", "provider": "0x..."}. Services start
in list order, each seeing the state with the services before it, and stop in reverse order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from devnet.state import DevnetState, JSONValue


class ServiceHandle(Protocol):
    """A started service."""

    def info(self) -> Mapping[str, JSONValue]:
        """What clients need to reach the service; must be JSON-serialisable."""
        ...

    def stop(self) -> None:
        """Stops the service and waits until it is gone; must be idempotent."""
        ...


class DevnetService(Protocol):
    """Something to start once the chain is up and the contracts are deployed."""

    @property
    def name(self) -> str:
        """Key under which info() is published in the state file."""
        ...

    def start(self, state: DevnetState) -> ServiceHandle:
        """Starts the service against the running chain; returns once it is ready."""
        ...


def default_services(
    providers: int = 2,
    *,
    host: str = "127.0.0.1",
    advertise_host: str | None = None,
    provider_base_port: int = 0,
    storage_port: int = 0,
    indexer_port: int = 0,
) -> list[DevnetService]:
    """What `python -m devnet` starts after the chain, in order.

    `providers` devnet providers (devnet.provider: each stakes 100 A0GI and registers with
    addOrUpdateService), published under services.providers.providers; the storage node
    (follows Submit events) appends itself here. All bind `host` and announce
    `advertise_host` (default: host) in their URLs; ports 0 are free ones, provider i gets
    provider_base_port + i.
    """
    from devnet.provider.service import DevnetProviders  # late: it imports devnet modules
    from devnet.storage_node import IndexerOptions, NodeOptions, StorageNodeService

    services: list[DevnetService] = []
    if providers > 0:
        services.append(
            DevnetProviders(
                count=providers,
                host=host,
                advertise_host=advertise_host,
                base_port=provider_base_port,
            )
        )
    # One storage node holding every shard, and an indexer: services.storage.
    node = NodeOptions(port=storage_port, host=host, advertise_host=advertise_host)
    indexer = IndexerOptions(host=host, port=indexer_port, advertise_host=advertise_host)
    services.append(StorageNodeService(shards=(node,), indexer=indexer))
    return services
