"""Channels from one service to another, balanced across every replica behind an address.

grpc's default policy (pick_first) keeps one HTTP/2 connection to the first address a name
resolves to, so every call from a pod goes to one replica and a second broker pod gets none.
`service_channel` resolves the name through DNS (a headless Kubernetes Service answers with one
A record per ready pod) and spreads calls round-robin over a connection to each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc.aio

from zerog_grpc.tracing import client_interceptors

# gRPC's service config: round_robin over every resolved address.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
# Schemes grpc resolves itself; anything else ("broker:50051") is a DNS name.
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")

Option = tuple[str, str | int]


def balanced_target(address: str) -> str:
    """`host:port` as `dns:///host:port`; a target with a scheme (`ipv4:a:1,b:2`) unchanged."""
    if address.startswith(_SCHEMES):
        return address
    return f"dns:///{address}"


def service_channel(address: str, options: Sequence[Option] = ()) -> grpc.aio.Channel:
    """An insecure channel to another zerog service: DNS-resolved, round-robin, traced."""
    return grpc.aio.insecure_channel(
        balanced_target(address),
        options=[("grpc.service_config", ROUND_ROBIN), *options],
        interceptors=client_interceptors(),
    )
