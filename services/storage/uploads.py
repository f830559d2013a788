"""Who an upload belongs to and the ids it is known by to the broker and quota."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.storage.model import PutHeader
from zerog_grpc import request_ids


@dataclass(frozen=True)
class Owner:
    """Whose request an upload is: the calling service and the principal it acts as (the user
    when one is named). Two services acting for one user have request_ids of their own."""

    service: str  # '' for a row journaled before rows named their service (migration 004)
    principal: str


def _before_004(owner: Owner, request_id: str) -> str:
    # How an upload journaled before migration 004 was named to the broker and quota.
    return hashlib.sha256(f"{owner.principal}\x00{request_id}".encode()).hexdigest()[:40]


def put_id(owner: Owner, request_id: str) -> str:
    """The broker request_id of the upload's Flow submission: one per owner and request_id
    (the broker sees only storage as its caller), so a retry is answered by the paid one."""
    if not owner.service:
        return f"storage-put:{_before_004(owner, request_id)}"
    return request_ids.derived("storage-put", owner.service, owner.principal, request_id)


def reserve_id(owner: Owner, request_id: str, attempt: int) -> str:
    """The quota request_id of one attempt's reservation (a replay finds it again)."""
    if not owner.service:
        return f"storage-put:{_before_004(owner, request_id)}:{attempt}"
    return request_ids.derived(
        "storage-put", owner.service, owner.principal, request_id, str(attempt)
    )


def header_digest(header: PutHeader, principal: str) -> bytes:
    """What makes a retry the same request: who, where, which bytes and how stored."""
    meta = "\x00".join(f"{k}={v}" for k, v in sorted(header.metadata.items()))
    text = "\x01".join(
        [
            principal,
            header.namespace,
            header.name,
            str(header.size),
            header.sha256.hex(),
            str(header.replicas),
            header.content_type,
            meta,
        ]
    )
    return hashlib.sha256(text.encode()).digest()
