"""A storage process killed between the Flow submit and the upload resumes without paying again."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.rpc.error_details_pb2 import ErrorInfo
from web3 import Web3

from devnet import Devnet
from devnet.process import dies_with_parent
from devnet.storage_node import StorageNodeProcess
from tests.storage.conftest import Deps, storage_env
from tests.storage.helpers import (
    content,
    flow_submissions,
    namespace_name,
    put,
    rid,
    sealed_bytes,
)
from tests.support import auth_metadata
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_grpc import unpack_detail

StartNode = Callable[..., StorageNodeProcess]
ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "services.storage", "serve"]),
            env={**os.environ, **env, "PORT": str(port)},
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )


async def _until_serving(stub: object, md: tuple[tuple[str, str], ...]) -> None:
    for _ in range(300):
        try:
            await stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=md)  # type: ignore[attr-defined]
            return
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.1)
    raise AssertionError("storage process did not come up")


async def _retried_put(
    storage: object, namespace: str, data: bytes, request_id: str
) -> pb.PutObjectResponse:
    """As a client retries: ABORTED REQUEST_IN_PROGRESS until the dead process's claim lapses."""
    for _ in range(100):
        try:
            return await put(storage, namespace, "s1", data, request_id=request_id)  # type: ignore[arg-type]
        except grpc.aio.AioRpcError as error:
            info = unpack_detail(error, ErrorInfo)
            assert info is not None and info.reason == "REQUEST_IN_PROGRESS", error
            await asyncio.sleep(0.2)
    raise AssertionError("the dead process's claim never lapsed")


async def test_killed_after_submit_resumes_without_second_submit(
    running_devnet: Devnet,
    devnet_w3: Web3,
    start_storage_node: StartNode,
    storage_deps: Deps,
    storage_db_url: str,
    tmp_path: Path,
) -> None:
    node = start_storage_node()
    env = storage_env(
        storage_db_url,
        [node.url],
        storage_deps.broker_address,
        storage_deps.quota_address,
        tmp_path,
        running_devnet.state.rpc_url,
    )
    # A dead process's claim on the put lapses soon (a live one renews it).
    env["UPLOAD_LEASE_SECONDS"] = "2"
    port = _free_port()
    md = auth_metadata("inference", "storage")
    data = content(600_000)
    flow = running_devnet.state.contracts.flow
    request_id = rid()
    chats = namespace_name("chats")

    process = _spawn(env, port, tmp_path / "storage.log")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = storage_service_pb2_grpc.StorageServiceStub(channel)
    try:
        await _until_serving(stub, md)
        await stub.CreateNamespace(
            pb.CreateNamespaceRequest(request_id=rid(), name=chats), metadata=md
        )
        # Writes are parked on the node, so the upload stalls right after the paid submit.
        node.set_faults(hold_writes=True)
        storage = type("S", (), {"stub": stub, "md": staticmethod(lambda s, u="": md)})()
        upload = asyncio.create_task(put(storage, chats, "s1", data, request_id=request_id))
        for _ in range(600):
            sealed = await sealed_bytes(storage_deps.quota.pool, chats, data)
            if flow_submissions(devnet_w3, flow, sealed):
                break
            await asyncio.sleep(0.05)
        assert flow_submissions(devnet_w3, flow, sealed) == 1
        process.send_signal(signal.SIGKILL)
        process.wait()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        node.set_faults(hold_writes=False)

        process = _spawn(env, port, tmp_path / "storage.log")
        await _until_serving(stub, md)
        stored = await _retried_put(storage, chats, data, request_id)
        assert stored.object.size == len(data)
        assert flow_submissions(devnet_w3, flow, sealed) == 1
        got = b""
        async for message in stub.GetObject(
            pb.GetObjectRequest(namespace=chats, name="s1"), metadata=md
        ):
            got += message.chunk
        assert got == data
    finally:
        await channel.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
