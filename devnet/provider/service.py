"""The devnet service that starts N providers with different prices and latencies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devnet.provider.process import ProviderProcess, ProviderSpec, derived_key, launch_providers
from devnet.state import DevnetState, JSONValue

SERVICE_NAME = "providers"


def default_specs(
    count: int,
    settle_interval: float = 30.0,
    *,
    host: str = "127.0.0.1",
    advertise_host: str | None = None,
    base_port: int = 0,
) -> list[ProviderSpec]:
    """Provider i: deterministic keys, price and latency rising with i (cheap-fast first);
    port base_port + i (0: free ports)."""
    return [
        ProviderSpec(
            model=f"zerog-devnet-echo-{i}",
            knobs={
                "input_price": (i + 1) * 1_000_000_000,
                "output_price": (i + 1) * 2_000_000_000,
                "first_token_delay_ms": 20 * i,
                "token_delay_ms": 5 * i,
            },
            settle_interval=settle_interval,
            private_key=derived_key(f"provider-{i}"),
            tee_key=derived_key(f"provider-{i}-tee"),
            port=base_port + i if base_port else 0,
            host=host,
            advertise_host=advertise_host,
        )
        for i in range(count)
    ]


@dataclass
class ProvidersHandle:
    """Every started provider; info() lists them in start order."""

    providers: list[ProviderProcess]

    def info(self) -> Mapping[str, JSONValue]:
        return {"providers": [p.info() for p in self.providers]}

    def stop(self) -> None:
        while self.providers:
            self.providers.pop().stop()


@dataclass(frozen=True)
class DevnetProviders:
    """`services.providers.providers` in the state file: [{url, provider, model, ...}]."""

    count: int = 1
    settle_interval: float = 30.0
    name: str = SERVICE_NAME
    host: str = "127.0.0.1"
    advertise_host: str | None = None
    base_port: int = 0

    def start(self, state: DevnetState) -> ProvidersHandle:
        specs = default_specs(
            self.count,
            self.settle_interval,
            host=self.host,
            advertise_host=self.advertise_host,
            base_port=self.base_port,
        )
        return ProvidersHandle(launch_providers(state, specs) if specs else [])
