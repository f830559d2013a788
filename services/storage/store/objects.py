"""SQL for object versions: reads, pages, deletion, retention and their bytes' quota charge."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from services.storage.model import PutHeader, StoredObject, VerifyState
from zerog_db import Connection, Executor

_SELECT = """
SELECT o.namespace, o.name, o.version, o.root, c.tx_seq, coalesce(o.plain_size, c.size) AS size,
       coalesce(o.plain_sha256, c.sha256) AS sha256, o.replicas, o.content_type, o.metadata,
       o.creator, o.created_at, c.verify_state, c.verify_detail, c.verified_at, o.deleted_at,
       o.encryption, c.size AS stored_size, c.sha256 AS stored_sha256
FROM objects o JOIN contents c USING (root)
"""
_KEY = "namespace = $1 AND name = $2 AND version = $3"


def _object(row: asyncpg.Record) -> StoredObject:
    meta = row["metadata"]
    return StoredObject(
        namespace=row["namespace"],
        name=row["name"],
        version=row["version"],
        root=bytes(row["root"]),
        tx_seq=row["tx_seq"],
        size=row["size"],
        sha256=bytes(row["sha256"]),
        replicas=row["replicas"],
        content_type=row["content_type"],
        metadata=json.loads(meta) if isinstance(meta, str) else dict(meta),
        creator=row["creator"],
        created_at=row["created_at"],
        verify_state=VerifyState(row["verify_state"]),
        verify_detail=row["verify_detail"],
        verified_at=row["verified_at"],
        deleted_at=row["deleted_at"],
        encryption=row["encryption"],
        stored_size=row["stored_size"],
        stored_sha256=bytes(row["stored_sha256"]),
    )


async def _objects(db: Executor, where: str, *args: object) -> list[StoredObject]:
    return [_object(r) for r in await db.fetch(f"{_SELECT} {where}", *args)]


async def get(db: Executor, namespace: str, name: str, version: int = 0) -> StoredObject | None:
    """A live version (the latest when `version` is 0)."""
    found = await _objects(
        db,
        """
        WHERE o.namespace = $1 AND o.name = $2 AND o.deleted_at IS NULL
          AND ($3 = 0 OR o.version = $3)
        ORDER BY o.version DESC LIMIT 1
        """,
        namespace,
        name,
        version,
    )
    return found[0] if found else None


async def get_version(db: Executor, namespace: str, name: str, version: int) -> StoredObject:
    """One version, deleted or not (for replaying an upload)."""
    found = await _objects(
        db, "WHERE o.namespace = $1 AND o.name = $2 AND o.version = $3", namespace, name, version
    )
    assert found, "an upload's version always exists"
    return found[0]


async def page(
    db: Executor,
    namespace: str,
    *,
    prefix: str,
    after: tuple[str, int],
    limit: int,
    all_versions: bool,
    include_deleted: bool,
) -> list[StoredObject]:
    """Objects by (name, version) after `after`; the latest per name unless `all_versions`."""
    rows = await db.fetch(
        f"""
        SELECT * FROM (
            {_SELECT}
            WHERE o.namespace = $1 AND starts_with(o.name, $2)
              AND ($5 OR o.deleted_at IS NULL)
              AND ($6 OR o.version = (SELECT max(v.version) FROM objects v
                   WHERE v.namespace = o.namespace AND v.name = o.name
                     AND ($5 OR v.deleted_at IS NULL)))
        ) s
        WHERE (s.name, s.version) > ($3, $4)
        ORDER BY s.name, s.version LIMIT $7
        """,
        namespace,
        prefix,
        after[0],
        after[1],
        include_deleted,
        all_versions,
        limit,
    )
    return [_object(r) for r in rows]


async def with_root(db: Executor, namespace: str, root: bytes) -> list[StoredObject]:
    """Every version (deleted ones too: backups) in a namespace with that root."""
    return await _objects(
        db, "WHERE o.namespace = $1 AND o.root = $2 ORDER BY o.name, o.version", namespace, root
    )


async def flagged(
    db: Executor, namespace: str | None, after: tuple[str, str, int], limit: int
) -> list[StoredObject]:
    """Objects whose content is degraded or lost, by namespace, name, version."""
    return await _objects(
        db,
        """
        WHERE c.verify_state IN ('degraded', 'lost') AND ($1::text IS NULL OR o.namespace = $1)
          AND (o.namespace, o.name, o.version) > ($2, $3, $4)
        ORDER BY o.namespace, o.name, o.version LIMIT $5
        """,
        namespace,
        *after,
        limit,
    )


async def of_roots(db: Executor, roots: list[bytes]) -> list[StoredObject]:
    """Every version pointing at these roots."""
    return await _objects(
        db, "WHERE o.root = ANY($1::bytea[]) ORDER BY o.namespace, o.name, o.version", roots
    )


async def insert_version(conn: Connection, header: PutHeader, root: bytes, creator: str) -> int:
    """Add the next version of the header's name, sealed under its namespace's key (call with
    the namespace locked); returns the version."""
    return int(
        await conn.fetchval(
            """
            INSERT INTO objects (namespace, name, version, root, replicas, content_type,
                                 metadata, creator, request_id, encryption, plain_size,
                                 plain_sha256)
            VALUES ($1, $2, coalesce((SELECT max(version) FROM objects
                                      WHERE namespace = $1 AND name = $2), 0) + 1,
                    $3, $4, $5, $6, $7, $8, 'zge1', $9, $10)
            RETURNING version
            """,
            header.namespace,
            header.name,
            root,
            header.replicas,
            header.content_type,
            json.dumps(header.metadata),
            creator,
            header.request_id,
            header.size,
            header.sha256,
        )
    )


async def delete_name(db: Executor, namespace: str, name: str) -> int:
    """Delete every live version of a name logically; how many were."""
    done = await db.execute(
        "UPDATE objects SET deleted_at = now()"
        " WHERE namespace = $1 AND name = $2 AND deleted_at IS NULL",
        namespace,
        name,
    )
    return int(done.split()[-1])


async def apply_retention(db: Executor, namespace: str, now: datetime) -> tuple[int, int]:
    """Delete logically the versions a namespace's policy no longer keeps: (expired, pruned)."""
    expired = await db.execute(
        """
        UPDATE objects o SET deleted_at = $2 FROM namespaces n
        WHERE o.namespace = $1 AND n.name = o.namespace AND o.deleted_at IS NULL
          AND n.expire_after_seconds IS NOT NULL
          AND o.created_at < $2::timestamptz - make_interval(secs => n.expire_after_seconds)
        """,
        namespace,
        now,
    )
    pruned = await db.execute(
        """
        UPDATE objects o SET deleted_at = $2
        FROM (SELECT namespace, name, version,
                     row_number() OVER (PARTITION BY name ORDER BY version DESC) AS rank
              FROM objects WHERE namespace = $1 AND deleted_at IS NULL) r,
             namespaces n
        WHERE o.namespace = r.namespace AND o.name = r.name AND o.version = r.version
          AND n.name = o.namespace AND n.keep_versions > 0 AND r.rank > n.keep_versions
        """,
        namespace,
        now,
    )
    return int(expired.split()[-1]), int(pruned.split()[-1])


async def mark_charged(db: Executor, namespace: str, name: str, version: int, subject: str) -> None:
    """Remember whom quota charged for a version (only after its commit succeeded)."""
    await db.execute(
        f"UPDATE objects SET quota_subject = $4 WHERE {_KEY}", namespace, name, version, subject
    )


async def charge_owed(db: Executor, namespace: str, name: str, version: int) -> bool:
    """Whether a live version was stored but quota never confirmed charging for it."""
    return bool(
        await db.fetchval(
            f"SELECT quota_subject IS NULL FROM objects WHERE {_KEY} AND deleted_at IS NULL",
            namespace,
            name,
            version,
        )
    )


async def unreleased(db: Executor, namespace: str) -> list[asyncpg.Record]:
    """A namespace's deleted versions whose charged bytes quota has not been given back:
    (name, version, quota_subject, size)."""
    return await db.fetch(
        """
        SELECT o.name, o.version, o.quota_subject, coalesce(o.plain_size, c.size) AS size
        FROM objects o JOIN contents c USING (root)
        WHERE o.namespace = $1 AND o.deleted_at IS NOT NULL
          AND o.quota_subject IS NOT NULL AND o.quota_released_at IS NULL
        ORDER BY o.name, o.version
        """,
        namespace,
    )


async def mark_released(db: Executor, namespace: str, name: str, version: int) -> None:
    """Quota took a version's bytes back."""
    await db.execute(
        f"UPDATE objects SET quota_released_at = now() WHERE {_KEY}", namespace, name, version
    )
