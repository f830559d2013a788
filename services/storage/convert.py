"""Between the storage service's protobuf messages and its domain values."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration

from services.storage import validate
from services.storage.model import (
    Namespace,
    Permission,
    PutHeader,
    Retention,
    StoredObject,
    VerifyState,
)
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog_grpc import Problems
from zerog_grpc.convert import enum_pairs, timestamp

PERMISSION_TO_PB, PERMISSION_FROM_PB = enum_pairs(Permission, pb.Permission, "PERMISSION_")
STATE_TO_PB, _ = enum_pairs(VerifyState, pb.VerificationState, "VERIFICATION_STATE_")


def namespace(ns: Namespace) -> pb.Namespace:
    retention = pb.RetentionPolicy(keep_versions=ns.retention.keep_versions)
    if ns.retention.expire_after_seconds:
        retention.expire_after.CopyFrom(Duration(seconds=ns.retention.expire_after_seconds))
    return pb.Namespace(
        name=ns.name,
        owner=ns.owner,
        acl=[
            pb.AclEntry(principal=who, permission=PERMISSION_TO_PB[p])
            for who, p in sorted(ns.acl.items())
        ],
        metadata=ns.metadata,
        quota_bytes=ns.quota_bytes,
        used_bytes=ns.used_bytes,
        retention=retention,
        default_replicas=ns.default_replicas,
        create_time=timestamp(ns.created_at),
        update_time=timestamp(ns.updated_at),
    )


def stored_object(o: StoredObject) -> pb.Object:
    out = pb.Object(
        namespace=o.namespace,
        name=o.name,
        version=o.version,
        root="0x" + o.root.hex(),
        tx_seq=o.tx_seq,
        size=o.size,
        sha256=o.sha256.hex(),
        replicas=o.replicas,
        content_type=o.content_type,
        metadata=o.metadata,
        creator=o.creator,
        create_time=timestamp(o.created_at),
        verification_state=STATE_TO_PB[o.verify_state],
        verification_detail=o.verify_detail,
    )
    if o.verified_at is not None:
        out.verify_time.CopyFrom(timestamp(o.verified_at))
    if o.deleted_at is not None:
        out.delete_time.CopyFrom(timestamp(o.deleted_at))
    return out


def acl(entries: list[pb.AclEntry], problems: Problems) -> dict[str, Permission]:
    """ACL entries as a map, one per principal."""
    out: dict[str, Permission] = {}
    for i, entry in enumerate(entries):
        validate.principal(entry.principal, problems, f"acl[{i}].principal")
        if entry.permission not in PERMISSION_FROM_PB:
            problems.add(f"acl[{i}].permission", "must be READ, WRITE or ADMIN")
        elif entry.principal in out:
            problems.add(f"acl[{i}].principal", "appears twice")
        else:
            out[entry.principal] = PERMISSION_FROM_PB[entry.permission]
    return out


def retention(policy: pb.RetentionPolicy, problems: Problems) -> Retention:
    """A retention policy; unset expire_after means never."""
    seconds = None
    if policy.HasField("expire_after"):
        delta: timedelta = policy.expire_after.ToTimedelta()
        if delta.total_seconds() < 1:
            problems.add("retention.expire_after", "must be at least one second")
        seconds = max(int(delta.total_seconds()), 1)
    problems.not_negative("retention.keep_versions", policy.keep_versions)
    return Retention(seconds, max(policy.keep_versions, 0))


def put_header(h: pb.PutObjectHeader, max_bytes: int, max_replicas: int) -> PutHeader:
    """A validated header (every problem at once); nothing is touched before this passes."""
    problems = validate.mutation(h.request_id)
    validate.namespace_name(h.namespace, problems)
    validate.object_name(h.name, problems)
    if h.size < 1:
        problems.add("size", "must be at least 1 byte (0G Storage cannot store empty files)")
    elif h.size > max_bytes:
        problems.add("size", f"{h.size} bytes exceeds the limit of {max_bytes} bytes")
    if not validate.SHA256_RE.match(h.sha256):
        problems.add("sha256", "must be 64 lowercase hex characters")
    validate.up_to(h.replicas, max_replicas, problems, "replicas")
    if len(h.content_type) > 255:
        problems.add("content_type", "at most 255 characters")
    validate.metadata(dict(h.metadata), problems)
    validate.raise_if("PutObjectHeader", problems)
    return PutHeader(
        h.request_id,
        h.namespace,
        h.name,
        h.size,
        bytes.fromhex(h.sha256),
        h.replicas,
        h.content_type,
        dict(h.metadata),
    )
