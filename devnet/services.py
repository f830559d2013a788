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


def default_services(providers: int = 2) -> list[DevnetService]:
    """What `python -m devnet` starts after the chain, in order.

    `providers` devnet providers (devnet.provider: each stakes 100 A0GI and registers with
    addOrUpdateService), published under services.providers.providers; the storage node
    (follows Submit events) appends itself here.
    """
    from devnet.provider.service import DevnetProviders  # late: it imports devnet modules
    from devnet.storage_node import StorageNodeService

    services: list[DevnetService] = []
    if providers > 0:
        services.append(DevnetProviders(count=providers))
    # One storage node holding every shard, and an indexer: services.storage.
    services.append(StorageNodeService())
    return services
