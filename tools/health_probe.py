"""Exit 0 only if a gRPC server reports SERVING: the image's healthcheck (grpc_health_probe's job).

Usage: python health_probe.py [ADDRESS] [SERVICE]. ADDRESS defaults to 127.0.0.1:$PORT (50051),
SERVICE to "" (the whole server). Needs only grpcio and grpcio-health-checking, which every
service image already has.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def status(address: str, service: str = "", timeout: float = 3.0) -> str:
    """The health status name the server reports, or the gRPC error code name."""
    with grpc.insecure_channel(address) as channel:
        # The stubs package types HealthStub without its methods.
        stub: Any = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: list[str]) -> int:
    """Print the status and exit 0 when it is SERVING, 1 otherwise."""
    address = argv[1] if len(argv) > 1 else f"127.0.0.1:{os.environ.get('PORT') or '50051'}"
    service = argv[2] if len(argv) > 2 else ""
    result = status(address, service)
    print(f"{address} {service or '(server)'}: {result}")
    return 0 if result == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
