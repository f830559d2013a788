"""Stored answers belong to the calling service: two services acting for one user with the
same request_id make two requests; the same service retrying gets the first answer."""

from __future__ import annotations

import uuid

from google.protobuf.field_mask_pb2 import FieldMask

from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage
from tests.storage.helpers import create_namespace, namespace_name
from zerog.storage.v1 import storage_service_pb2 as pb


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
