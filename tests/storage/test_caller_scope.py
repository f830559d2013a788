"""Stored answers belong to the calling service: two services acting for one user with the
same request_id make two requests; the same service retrying gets the first answer."""

from __future__ import annotations

import hashlib
import uuid

import grpc
import grpc.aio
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from web3 import Web3

from devnet import Devnet
from devnet.storage_node import StorageNetwork
from services.storage import uploads
from tests.storage.conftest import StartStorage
from tests.storage.helpers import (
    content,
    create_namespace,
    flow_submissions,
    get,
    namespace_name,
    put,
    sealed_bytes,
)
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import request_ids


async def test_two_services_for_one_user_share_no_request_id(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    name = (await create_namespace(storage, namespace_name("alice"), user=alice)).name

    def update(quota: int) -> pb.UpdateNamespaceRequest:
        return pb.UpdateNamespaceRequest(
            request_id="same-id",
            namespace=pb.Namespace(name=name, quota_bytes=quota),
            update_mask=FieldMask(paths=["quota_bytes"]),
        )

    by_inference = await storage.stub.UpdateNamespace(
        update(1000), metadata=storage.md("inference", alice)
    )
    by_scheduler = await storage.stub.UpdateNamespace(
        update(2000), metadata=storage.md("scheduler", alice)
    )
    retried = await storage.stub.UpdateNamespace(
        update(1000), metadata=storage.md("inference", alice)
    )

    assert by_inference.namespace.quota_bytes == 1000
    assert by_scheduler.namespace.quota_bytes == 2000
    assert retried == by_inference
    now = await storage.stub.GetNamespace(
        pb.GetNamespaceRequest(name=name), metadata=storage.md("inference", alice)
    )
    assert now.namespace.quota_bytes == 2000


async def test_two_services_putting_one_request_id_for_one_user_store_both_objects(
    storage_network: StorageNetwork,
    start_storage: StartStorage,
    running_devnet: Devnet,
    devnet_w3: Web3,
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("alice"), user=alice)).name
    flow = running_devnet.state.contracts.flow
    for_inference, for_scheduler = content(3000), content(5000)

    by_inference = await put(
        storage, ns, "notes", for_inference, service="inference", user=alice, request_id="put-1"
    )
    by_scheduler = await put(
        storage, ns, "notes", for_scheduler, service="scheduler", user=alice, request_id="put-1"
    )
    retried = await put(
        storage, ns, "notes", for_inference, service="inference", user=alice, request_id="put-1"
    )

    assert (by_inference.object.version, by_scheduler.object.version) == (1, 2)
    assert not by_inference.deduplicated and not by_scheduler.deduplicated
    assert retried == by_inference
    assert (await get(storage, ns, "notes", user=alice, version=1))[1] == for_inference
    assert (await get(storage, ns, "notes", user=alice, version=2))[1] == for_scheduler
    # One paid submission each: the scheduler's was its own, the retry paid nothing.
    sealed = [await sealed_bytes(storage.pool, ns, d) for d in (for_inference, for_scheduler)]
    assert [flow_submissions(devnet_w3, flow, s) for s in sealed] == [1, 1]
    # Each service's bytes were reserved and charged once, under reservations of their own.
    charged = await storage.quota.pool.fetch(
        "SELECT (committed_items->0->>'amount')::bigint AS amount FROM reservations"
        " WHERE subject = $1 AND operation = 'storage.put' AND state = 'committed'"
        " ORDER BY amount",
        f"user:{alice}",
    )
    assert [int(r["amount"]) for r in charged] == [3000, 5000]


async def test_two_services_putting_the_same_bytes_with_one_request_id_make_two_versions(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("alice"), user=alice)).name
    data = content(2000)

    first = await put(storage, ns, "doc", data, service="inference", user=alice, request_id="p")
    second = await put(storage, ns, "doc", data, service="scheduler", user=alice, request_id="p")

    # The scheduler's put is a put of its own (a new version, its bytes already paid for),
    # not the inference service's answer replayed.
    assert first.object.version == 1 and not first.deduplicated
    assert second.object.version == 2 and second.deduplicated
    assert second.object.tx_seq == first.object.tx_seq


async def test_a_put_journaled_before_uploads_named_their_service_is_resumed_by_its_retry(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("alice"), user=alice)).name
    data, request_id = content(2000), f"old-{uuid.uuid4().hex}"
    first = await put(storage, ns, "doc", data, user=alice, request_id=request_id)
    # What migration 004 leaves of a row journaled before it: caller ''; and no stored answer
    # (those came with migration 005), so the retry goes to the journal.
    await storage.pool.execute(
        "UPDATE uploads SET caller = '' WHERE principal = $1 AND request_id = $2",
        f"user:{alice}",
        request_id,
    )
    await storage.pool.execute("DELETE FROM idempotency WHERE request_id = $1", request_id)

    retried = await put(storage, ns, "doc", data, user=alice, request_id=request_id)

    assert retried == first
    assert (
        await storage.pool.fetchval(
            "SELECT count(*) FROM uploads WHERE principal = $1 AND request_id = $2",
            f"user:{alice}",
            request_id,
        )
        == 1
    )


def test_ids_sent_for_a_journaled_upload_are_unique_per_service_and_unchanged_before() -> None:
    alice = "user:alice"
    ids = {
        uploads.put_id(uploads.Owner(service, alice), "r")
        for service in ("inference", "scheduler", "")
    }
    assert len(ids) == 3 and all(request_ids.valid(i) for i in ids)
    reserves = {
        uploads.reserve_id(uploads.Owner(service, alice), "r", 1)
        for service in ("inference", "scheduler", "")
    }
    assert len(reserves) == 3 and all(request_ids.valid(i) for i in reserves)
    # A row from before (caller '') is resumed under the ids its first attempts were sent with.
    old = hashlib.sha256(f"{alice}\x00r".encode()).hexdigest()[:40]
    assert uploads.put_id(uploads.Owner("", alice), "r") == f"storage-put:{old}"
    assert uploads.reserve_id(uploads.Owner("", alice), "r", 2) == f"storage-put:{old}:2"


async def test_a_retried_create_namespace_returns_the_namespace(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    create = pb.CreateNamespaceRequest(request_id="make-ns", name=namespace_name("alice"))

    made = await storage.stub.CreateNamespace(create, metadata=storage.md("inference", alice))
    retried = await storage.stub.CreateNamespace(create, metadata=storage.md("inference", alice))

    assert retried.namespace == made.namespace
    assert made.namespace.owner == f"user:{alice}"


async def test_two_services_creating_one_namespace_with_one_request_id(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    create = pb.CreateNamespaceRequest(request_id="make-ns", name=namespace_name("alice"))
    await storage.stub.CreateNamespace(create, metadata=storage.md("inference", alice))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage.stub.CreateNamespace(create, metadata=storage.md("scheduler", alice))

    # The scheduler did not create it: the name is taken, whoever took it.
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
