"""The storage domain as plain values: permissions, namespaces, objects and retention."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Permission(enum.IntEnum):
    """What an ACL entry grants; each level includes the lower ones."""

    READ = 1
    WRITE = 2
    ADMIN = 3


class VerifyState(enum.StrEnum):
    """What the last check of a content's replicas found (the database spelling)."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    DEGRADED = "degraded"
    LOST = "lost"


@dataclass(frozen=True)
class Retention:
    """Expire versions older than `expire_after_seconds`; keep `keep_versions` newest (0: all)."""

    expire_after_seconds: int | None = None
    keep_versions: int = 0


@dataclass(frozen=True)
class Namespace:
    """A namespace with its ACL (owner excluded) and live usage."""

    name: str
    owner: str
    acl: dict[str, Permission]
    metadata: dict[str, str]
    quota_bytes: int
    used_bytes: int
    retention: Retention
    default_replicas: int
    created_at: datetime
    updated_at: datetime

    def permission_of(self, principals: frozenset[str]) -> Permission | None:
        """The highest permission any of `principals` holds here."""
        if self.owner in principals:
            return Permission.ADMIN
        held = [p for who, p in self.acl.items() if who in principals]
        return max(held, default=None)


@dataclass(frozen=True)
class StoredObject:
    """One version of a named object, with its content's facts."""

    namespace: str
    name: str
    version: int
    root: bytes
    tx_seq: int
    size: int
    sha256: bytes
    replicas: int
    content_type: str
    metadata: dict[str, str]
    creator: str
    created_at: datetime
    verify_state: VerifyState
    verify_detail: str
    verified_at: datetime | None
    deleted_at: datetime | None
    encryption: str = "plain"
    """'plain' or 'zge1' (sealed under the namespace key, zerog_storage.at_rest)."""
    stored_size: int = 0
    """The size of the bytes on 0G (sealed: larger than `size`)."""
    stored_sha256: bytes = b""
    """The SHA-256 of the bytes on 0G."""


@dataclass(frozen=True)
class PutHeader:
    """A validated PutObject header."""

    request_id: str
    namespace: str
    name: str
    size: int
    sha256: bytes
    replicas: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)
