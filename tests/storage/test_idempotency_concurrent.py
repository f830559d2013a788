"""Twenty concurrent PutObject calls with one request_id upload and pay once: each gets the one
answer, or ABORTED REQUEST_IN_PROGRESS, whose retry gets that answer."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
from google.rpc.error_details_pb2 import ErrorInfo, RetryInfo
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import (
    content,
    create_namespace,
    flow_submissions,
    namespace_name,
    put,
    rid,
)
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail

CALLS = 20


async def _put_until_answered(
    storage: Storage, ns: str, data: bytes, request_id: str, in_progress: list[int]
) -> pb.PutObjectResponse:
    """The put, retried as a client does while the first call with its id still runs."""
    for _ in range(300):
        try:
            return await put(storage, ns, "same", data, request_id=request_id)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED, error
            info = unpack_detail(error, ErrorInfo)
            assert info is not None and info.reason == "REQUEST_IN_PROGRESS"
            assert info.metadata["request_id"] == request_id
            retry = unpack_detail(error, RetryInfo)
            assert retry is not None
            in_progress.append(1)
            await asyncio.sleep(min(retry.retry_delay.ToTimedelta().total_seconds(), 0.2))
    raise AssertionError("the put never finished")


async def test_concurrent_puts_with_one_request_id_upload_once(
    storage_network: StorageNetwork,
    start_storage: StartStorage,
    running_devnet: Devnet,
    devnet_w3: Web3,
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    ns = (await create_namespace(storage, namespace_name("once"))).name
    data, request_id = content(300_000), rid()
    paid_before = await storage.broker.pool.fetchval("SELECT count(*) FROM transactions")
    in_progress: list[int] = []

    answers = await asyncio.gather(
        *(_put_until_answered(storage, ns, data, request_id, in_progress) for _ in range(CALLS))
    )

    assert all(a == answers[0] for a in answers)
    assert answers[0].object.version == 1 and not answers[0].deduplicated
    # The others were told to come back while the first ran: the work ran once.
    assert in_progress
    assert flow_submissions(devnet_w3, running_devnet.state.contracts.flow, data) == 1
    paid = await storage.broker.pool.fetchval("SELECT count(*) FROM transactions")
    assert paid == paid_before + 1
    journal = await storage.pool.fetchrow(
        "SELECT count(*) AS rows, max(attempts) AS attempts FROM uploads WHERE namespace = $1", ns
    )
    assert journal is not None and (journal["rows"], journal["attempts"]) == (1, 1)
    versions = await storage.pool.fetchval(
        "SELECT count(*) FROM objects WHERE namespace = $1 AND name = 'same'", ns
    )
    assert versions == 1
