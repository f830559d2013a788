"""Bad replicas: corrupted segments are never returned, lost data is flagged and recovered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.rpc.error_details_pb2 import ErrorInfo

from devnet import Devnet
from devnet.storage_node import (
    NodeOptions,
    StorageNetwork,
    StorageNodeProcess,
    start_storage_network,
)
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, get, namespace_name, put, rid
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail

SIZE = 3 * 256 * 1024 + 5  # four segments


@pytest.fixture(scope="module")
def pair(running_devnet: Devnet) -> Iterator[StorageNetwork]:
    """Two full nodes for the module; each test stores fresh bytes, so a root it corrupts or
    loses is its own."""
    network = start_storage_network(running_devnet.state, (NodeOptions(), NodeOptions()))
    yield network
    network.stop()


@pytest.fixture
async def two_copies(
    pair: StorageNetwork, start_storage: StartStorage
) -> AsyncIterator[tuple[Storage, list[StorageNodeProcess], bytes, bytes, str]]:
    nodes = list(pair.nodes)
    storage = await start_storage([n.url for n in nodes])
    ns = (await create_namespace(storage, namespace_name("backup"))).name
    data = content(SIZE)
    stored = await put(storage, ns, "file", data, replicas=2)
    assert stored.object.replicas == 2
    yield storage, nodes, data, bytes.fromhex(stored.object.root[2:]), ns
    for node in nodes:
        node.set_faults(outage=False)


async def test_corrupted_segment_is_served_from_the_other_replica(
    two_copies: tuple[Storage, list[StorageNodeProcess], bytes, bytes, str],
) -> None:
    storage, nodes, data, root, ns = two_copies
    assert nodes[0].corrupt_segment(root, 1)
    _, got = await get(storage, ns, "file")
    assert got == data


async def test_corruption_everywhere_is_data_loss(
    two_copies: tuple[Storage, list[StorageNodeProcess], bytes, bytes, str],
) -> None:
    storage, nodes, _, root, ns = two_copies
    assert nodes[0].corrupt_segment(root, 2)
    assert nodes[1].corrupt_segment(root, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await get(storage, ns, "file")
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "OBJECT_DATA_LOST"


async def test_verification_flags_lost_data_and_recovery_restores_it(
    two_copies: tuple[Storage, list[StorageNodeProcess], bytes, bytes, str],
) -> None:
    storage, nodes, data, root, ns = two_copies
    assert nodes[1].lose_file(root)
    job = await storage.stub.RunVerification(
        pb.RunVerificationRequest(request_id=rid(), namespace=ns), metadata=storage.md()
    )
    assert job.checked == 1 and job.verified == 0
    assert [o.name for o in job.flagged] == ["file"]
    assert job.flagged[0].verification_state == pb.VERIFICATION_STATE_DEGRADED
    flagged = await storage.stub.ListFlaggedObjects(
        pb.ListFlaggedObjectsRequest(namespace=ns), metadata=storage.md()
    )
    assert [o.name for o in flagged.objects] == ["file"]

    recovered = await storage.stub.RecoverObject(
        pb.RecoverObjectRequest(request_id=rid(), namespace=ns, root="0x" + root.hex()),
        metadata=storage.md(),
    )
    assert recovered.state == pb.VERIFICATION_STATE_VERIFIED
    assert recovered.segments_restored > 0
    # The node that lost the file serves it again: the other one can go.
    nodes[0].set_faults(outage=True)
    _, got = await get(storage, ns, "file")
    assert got == data


async def test_data_lost_everywhere_is_reported_lost(
    two_copies: tuple[Storage, list[StorageNodeProcess], bytes, bytes, str],
) -> None:
    storage, nodes, _, root, ns = two_copies
    for node in nodes:
        assert node.lose_file(root)
    recovered = await storage.stub.RecoverObject(
        pb.RecoverObjectRequest(request_id=rid(), namespace=ns, root="0x" + root.hex()),
        metadata=storage.md(),
    )
    assert recovered.state == pb.VERIFICATION_STATE_LOST
    assert recovered.objects[0].verification_state == pb.VERIFICATION_STATE_LOST
