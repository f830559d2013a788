"""Principal A can do nothing in B's namespace: every RPC answers PERMISSION_DENIED."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc.error_details_pb2 import ErrorInfo

from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, get, put, rid
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import unpack_detail

Attempt = Callable[[Storage, str], Awaitable[object]]
A = ("inference", "alice")


def _md(storage: Storage) -> tuple[tuple[str, str], ...]:
    return storage.md(*A)


ATTEMPTS: dict[str, Attempt] = {
    "GetNamespace": lambda s, root: s.stub.GetNamespace(
        pb.GetNamespaceRequest(name="bob-ns"), metadata=_md(s)
    ),
    "UpdateNamespace": lambda s, root: s.stub.UpdateNamespace(
        pb.UpdateNamespaceRequest(
            request_id=rid(),
            namespace=pb.Namespace(name="bob-ns", quota_bytes=1),
            update_mask=FieldMask(paths=["quota_bytes"]),
        ),
        metadata=_md(s),
    ),
    "SetNamespaceAcl": lambda s, root: s.stub.SetNamespaceAcl(
        pb.SetNamespaceAclRequest(
            request_id=rid(),
            namespace="bob-ns",
            acl=[pb.AclEntry(principal="user:alice", permission=pb.PERMISSION_ADMIN)],
        ),
        metadata=_md(s),
    ),
    "DeleteNamespace": lambda s, root: s.stub.DeleteNamespace(
        pb.DeleteNamespaceRequest(request_id=rid(), name="bob-ns", force=True), metadata=_md(s)
    ),
    "PutObject": lambda s, root: put(s, "bob-ns", "secret", b"overwrite", service=A[0], user=A[1]),
    "GetObject": lambda s, root: get(s, "bob-ns", "secret", service=A[0], user=A[1]),
    "HeadObject": lambda s, root: s.stub.HeadObject(
        pb.HeadObjectRequest(namespace="bob-ns", name="secret"), metadata=_md(s)
    ),
    "ListObjects": lambda s, root: s.stub.ListObjects(
        pb.ListObjectsRequest(namespace="bob-ns"), metadata=_md(s)
    ),
    "DeleteObject": lambda s, root: s.stub.DeleteObject(
        pb.DeleteObjectRequest(request_id=rid(), namespace="bob-ns", name="secret"),
        metadata=_md(s),
    ),
    "VerifyObject": lambda s, root: s.stub.VerifyObject(
        pb.VerifyObjectRequest(namespace="bob-ns", name="secret"), metadata=_md(s)
    ),
    "RecoverObject": lambda s, root: s.stub.RecoverObject(
        pb.RecoverObjectRequest(request_id=rid(), namespace="bob-ns", root=root), metadata=_md(s)
    ),
    "RunVerification": lambda s, root: s.stub.RunVerification(
        pb.RunVerificationRequest(request_id=rid(), namespace="bob-ns"), metadata=_md(s)
    ),
    "RunVerificationEverywhere": lambda s, root: s.stub.RunVerification(
        pb.RunVerificationRequest(request_id=rid()), metadata=_md(s)
    ),
    "ListFlaggedObjects": lambda s, root: s.stub.ListFlaggedObjects(
        pb.ListFlaggedObjectsRequest(namespace="bob-ns"), metadata=_md(s)
    ),
    "ApplyRetention": lambda s, root: s.stub.ApplyRetention(
        pb.ApplyRetentionRequest(request_id=rid(), namespace="bob-ns"), metadata=_md(s)
    ),
}


@pytest.fixture
async def bobs(storage_network: StorageNetwork, start_storage: StartStorage) -> tuple[Storage, str]:
    storage = await start_storage([n.url for n in storage_network.nodes])
    await create_namespace(storage, "bob-ns", user="bob")
    await create_namespace(storage, "alice-ns", user="alice")
    stored = await put(storage, "bob-ns", "secret", content(300), user="bob")
    return storage, stored.object.root


@pytest.mark.parametrize("rpc", sorted(ATTEMPTS))
async def test_other_tenant_is_denied(rpc: str, bobs: tuple[Storage, str]) -> None:
    storage, root = bobs
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ATTEMPTS[rpc](storage, root)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = unpack_detail(caught.value, ErrorInfo)
    assert info is not None and info.reason == "NAMESPACE_ACCESS_DENIED"
    # Bob's object is untouched whatever Alice tried.
    _, data = await get(storage, "bob-ns", "secret", user="bob")
    assert len(data) == 300


async def test_listing_shows_only_own_namespaces(bobs: tuple[Storage, str]) -> None:
    storage, _ = bobs
    listed = await storage.stub.ListNamespaces(pb.ListNamespacesRequest(), metadata=_md(storage))
    assert [n.name for n in listed.namespaces] == ["alice-ns"]


async def test_acl_grants_read_but_not_write(bobs: tuple[Storage, str]) -> None:
    storage, _ = bobs
    await storage.stub.SetNamespaceAcl(
        pb.SetNamespaceAclRequest(
            request_id=rid(),
            namespace="bob-ns",
            acl=[pb.AclEntry(principal="user:alice", permission=pb.PERMISSION_READ)],
        ),
        metadata=storage.md("inference", "bob"),
    )
    _, data = await get(storage, "bob-ns", "secret", service=A[0], user=A[1])
    assert len(data) == 300
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await put(storage, "bob-ns", "secret", b"x", service=A[0], user=A[1])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
