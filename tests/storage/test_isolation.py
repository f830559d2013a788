"""Principal A can do nothing in B's namespace: every RPC answers PERMISSION_DENIED."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc.error_details_pb2 import ErrorInfo

from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, get, namespace_name, put, rid
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail


@dataclass(frozen=True)
class Scene:
    """Bob's namespace holding an object, and Alice (another tenant) with a namespace too."""

    storage: Storage
    alice: str
    bob: str
    alice_ns: str
    bob_ns: str
    root: str

    def md(self) -> tuple[tuple[str, str], ...]:
        """Alice's credentials."""
        return self.storage.md("inference", self.alice)


Attempt = Callable[[Scene], Awaitable[object]]


ATTEMPTS: dict[str, Attempt] = {
    "GetNamespace": lambda c: c.storage.stub.GetNamespace(
        pb.GetNamespaceRequest(name=c.bob_ns), metadata=c.md()
    ),
    "UpdateNamespace": lambda c: c.storage.stub.UpdateNamespace(
        pb.UpdateNamespaceRequest(
            request_id=rid(),
            namespace=pb.Namespace(name=c.bob_ns, quota_bytes=1),
            update_mask=FieldMask(paths=["quota_bytes"]),
        ),
        metadata=c.md(),
    ),
    "SetNamespaceAcl": lambda c: c.storage.stub.SetNamespaceAcl(
        pb.SetNamespaceAclRequest(
            request_id=rid(),
            namespace=c.bob_ns,
            acl=[pb.AclEntry(principal=f"user:{c.alice}", permission=pb.PERMISSION_ADMIN)],
        ),
        metadata=c.md(),
    ),
    "DeleteNamespace": lambda c: c.storage.stub.DeleteNamespace(
        pb.DeleteNamespaceRequest(request_id=rid(), name=c.bob_ns, force=True), metadata=c.md()
    ),
    "PutObject": lambda c: put(c.storage, c.bob_ns, "secret", b"overwrite", user=c.alice),
    "GetObject": lambda c: get(c.storage, c.bob_ns, "secret", user=c.alice),
    "HeadObject": lambda c: c.storage.stub.HeadObject(
        pb.HeadObjectRequest(namespace=c.bob_ns, name="secret"), metadata=c.md()
    ),
    "ListObjects": lambda c: c.storage.stub.ListObjects(
        pb.ListObjectsRequest(namespace=c.bob_ns), metadata=c.md()
    ),
    "DeleteObject": lambda c: c.storage.stub.DeleteObject(
        pb.DeleteObjectRequest(request_id=rid(), namespace=c.bob_ns, name="secret"),
        metadata=c.md(),
    ),
    "VerifyObject": lambda c: c.storage.stub.VerifyObject(
        pb.VerifyObjectRequest(namespace=c.bob_ns, name="secret"), metadata=c.md()
    ),
    "RecoverObject": lambda c: c.storage.stub.RecoverObject(
        pb.RecoverObjectRequest(request_id=rid(), namespace=c.bob_ns, root=c.root), metadata=c.md()
    ),
    "RunVerification": lambda c: c.storage.stub.RunVerification(
        pb.RunVerificationRequest(request_id=rid(), namespace=c.bob_ns), metadata=c.md()
    ),
    "RunVerificationEverywhere": lambda c: c.storage.stub.RunVerification(
        pb.RunVerificationRequest(request_id=rid()), metadata=c.md()
    ),
    "ListFlaggedObjects": lambda c: c.storage.stub.ListFlaggedObjects(
        pb.ListFlaggedObjectsRequest(namespace=c.bob_ns), metadata=c.md()
    ),
    "ApplyRetention": lambda c: c.storage.stub.ApplyRetention(
        pb.ApplyRetentionRequest(request_id=rid(), namespace=c.bob_ns), metadata=c.md()
    ),
}


@pytest.fixture
async def scene(storage_network: StorageNetwork, start_storage: StartStorage) -> Scene:
    storage = await start_storage([n.url for n in storage_network.nodes])
    suffix = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    bob_ns = (await create_namespace(storage, namespace_name("bob"), user=bob)).name
    alice_ns = (await create_namespace(storage, namespace_name("alice"), user=alice)).name
    stored = await put(storage, bob_ns, "secret", content(300), user=bob)
    return Scene(storage, alice, bob, alice_ns, bob_ns, stored.object.root)


@pytest.mark.parametrize("rpc", sorted(ATTEMPTS))
async def test_other_tenant_is_denied(rpc: str, scene: Scene) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ATTEMPTS[rpc](scene)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "NAMESPACE_ACCESS_DENIED"
    # Bob's object is untouched whatever Alice tried.
    _, data = await get(scene.storage, scene.bob_ns, "secret", user=scene.bob)
    assert len(data) == 300


async def test_listing_shows_only_own_namespaces(scene: Scene) -> None:
    listed = await scene.storage.stub.ListNamespaces(
        pb.ListNamespacesRequest(), metadata=scene.md()
    )
    assert [n.name for n in listed.namespaces] == [scene.alice_ns]


async def test_acl_grants_read_but_not_write(scene: Scene) -> None:
    storage = scene.storage
    await storage.stub.SetNamespaceAcl(
        pb.SetNamespaceAclRequest(
            request_id=rid(),
            namespace=scene.bob_ns,
            acl=[pb.AclEntry(principal=f"user:{scene.alice}", permission=pb.PERMISSION_READ)],
        ),
        metadata=storage.md("inference", scene.bob),
    )
    _, data = await get(storage, scene.bob_ns, "secret", user=scene.alice)
    assert len(data) == 300
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(storage, scene.bob_ns, "secret", b"x", user=scene.alice)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
