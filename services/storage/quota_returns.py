"""Stored bytes go back to quota once their version is deleted or expired, exactly once each.

Each version is released under a request_id derived from its key, so a retry after a crash or
a quota outage never gives bytes back twice; versions still pending are picked up by the next
DeleteObject or retention run in their namespace.
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg
import grpc.aio

from services.storage.remote import QuotaClient
from services.storage.store import objects

log = logging.getLogger(__name__)


def release_id(namespace: str, name: str, version: int) -> str:
    """The quota request_id of one version's bytes."""
    key = f"{namespace}\x00{name}\x00{version}".encode()
    return "storage-free:" + hashlib.sha256(key).hexdigest()[:40]


async def give_back(pool: asyncpg.Pool, quota: QuotaClient | None, namespace: str) -> int:
    """Release the bytes of a namespace's deleted versions not yet given back; how many were."""
    if quota is None:
        return 0
    done = 0
    for row in await objects.unreleased(pool, namespace):
        name, version = row["name"], row["version"]
        try:
            await quota.release_usage(
                release_id(namespace, name, version), row["quota_subject"], row["size"]
            )
        except grpc.aio.AioRpcError as error:
            # Left pending: the next delete or retention run in this namespace retries it.
            log.warning(
                "quota release failed",
                extra={"namespace": namespace, "code": error.code().name},
            )
            return done
        await objects.mark_released(pool, namespace, name, version)
        done += 1
    return done
