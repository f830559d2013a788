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

log = logging.getLogger(__name__)


def release_id(namespace: str, name: str, version: int) -> str:
    """The quota request_id of one version's bytes."""
    key = f"{namespace}\x00{name}\x00{version}".encode()
    return "storage-free:" + hashlib.sha256(key).hexdigest()[:40]


async def mark_charged(
    pool: asyncpg.Pool, namespace: str, name: str, version: int, subject: str
) -> None:
    """Remember whom quota charged for a version (only after its commit succeeded)."""
    await pool.execute(
        "UPDATE objects SET quota_subject = $4 WHERE namespace = $1 AND name = $2 AND version = $3",
        namespace,
        name,
        version,
        subject,
    )


async def owed(pool: asyncpg.Pool, namespace: str, name: str, version: int) -> bool:
    """Whether a live version was stored but quota never confirmed charging for it."""
    return bool(
        await pool.fetchval(
            "SELECT quota_subject IS NULL FROM objects"
            " WHERE namespace = $1 AND name = $2 AND version = $3 AND deleted_at IS NULL",
            namespace,
            name,
            version,
        )
    )


async def give_back(pool: asyncpg.Pool, quota: QuotaClient | None, namespace: str) -> int:
    """Release the bytes of a namespace's deleted versions not yet given back; how many were."""
    if quota is None:
        return 0
    rows = await pool.fetch(
        """
        SELECT o.namespace, o.name, o.version, o.quota_subject, c.size
        FROM objects o JOIN contents c USING (root)
        WHERE o.namespace = $1 AND o.deleted_at IS NOT NULL
          AND o.quota_subject IS NOT NULL AND o.quota_released_at IS NULL
        ORDER BY o.name, o.version
        """,
        namespace,
    )
    done = 0
    for row in rows:
        request_id = release_id(row["namespace"], row["name"], row["version"])
        try:
            await quota.release_usage(request_id, row["quota_subject"], row["size"])
        except grpc.aio.AioRpcError as error:
            # Left pending: the next delete or retention run in this namespace retries it.
            log.warning(
                "quota release failed",
                extra={"namespace": namespace, "code": error.code().name},
            )
            return done
        await pool.execute(
            "UPDATE objects SET quota_released_at = now()"
            " WHERE namespace = $1 AND name = $2 AND version = $3",
            row["namespace"],
            row["name"],
            row["version"],
        )
        done += 1
    return done
