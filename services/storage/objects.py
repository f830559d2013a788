"""SQL for object versions and their content rows (one per merkle root)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.storage.model import StoredObject, VerifyState
from zerog_db import Connection, Executor

_SELECT = """
SELECT o.namespace, o.name, o.version, o.root, c.tx_seq, c.size, c.sha256, o.replicas,
       o.content_type, o.metadata, o.creator, o.created_at, c.verify_state, c.verify_detail,
       c.verified_at, o.deleted_at
FROM objects o JOIN contents c USING (root)
"""


@dataclass(frozen=True)
class Content:
    """What we know about one merkle root on 0G Storage."""

    root: bytes
    size: int
    sha256: bytes
    tx_seq: int
    replicas: int
    verify_state: VerifyState


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
    )


def _content(row: asyncpg.Record) -> Content:
    return Content(
        bytes(row["root"]),
        row["size"],
        bytes(row["sha256"]),
        row["tx_seq"],
        row["replicas"],
        VerifyState(row["verify_state"]),
    )


async def get(db: Executor, namespace: str, name: str, version: int = 0) -> StoredObject | None:
    """A live version (the latest when `version` is 0)."""
    row = await db.fetchrow(
        _SELECT
        + """
        WHERE o.namespace = $1 AND o.name = $2 AND o.deleted_at IS NULL
          AND ($3 = 0 OR o.version = $3)
        ORDER BY o.version DESC LIMIT 1
        """,
        namespace,
        name,
        version,
    )
    return None if row is None else _object(row)


async def get_version(db: Executor, namespace: str, name: str, version: int) -> StoredObject:
    """One version, deleted or not (for replaying an upload)."""
    row = await db.fetchrow(
        _SELECT + " WHERE o.namespace = $1 AND o.name = $2 AND o.version = $3",
        namespace,
        name,
        version,
    )
    assert row is not None, "an upload's version always exists"
    return _object(row)


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


async def delete_name(db: Executor, namespace: str, name: str) -> int:
    """Delete every live version of a name logically; how many were."""
    done = await db.execute(
        "UPDATE objects SET deleted_at = now()"
        " WHERE namespace = $1 AND name = $2 AND deleted_at IS NULL",
        namespace,
        name,
    )
    return int(done.split()[-1])


async def exists(db: Executor, namespace: str, name: str) -> bool:
    """Whether any version of a name was ever stored."""
    return bool(
        await db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM objects WHERE namespace = $1 AND name = $2)",
            namespace,
            name,
        )
    )


async def content(db: Executor, root: bytes) -> Content | None:
    """The content row of a root."""
    row = await db.fetchrow("SELECT * FROM contents WHERE root = $1", root)
    return None if row is None else _content(row)


async def save_content(
    db: Executor, root: bytes, size: int, sha256: bytes, tx_seq: int, replicas: int
) -> None:
    """Record content now on 0G Storage (more replicas or a fresher tx update the row)."""
    await db.execute(
        """
        INSERT INTO contents (root, size, sha256, tx_seq, replicas) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (root) DO UPDATE
            SET replicas = greatest(contents.replicas, $5), tx_seq = $4
        """,
        root,
        size,
        sha256,
        tx_seq,
        replicas,
    )


async def insert_version(
    conn: Connection,
    *,
    namespace: str,
    name: str,
    root: bytes,
    replicas: int,
    content_type: str,
    metadata: dict[str, str],
    creator: str,
    request_id: str,
) -> int:
    """Add the next version of a name (call with the namespace locked); returns the version."""
    return int(
        await conn.fetchval(
            """
            INSERT INTO objects (namespace, name, version, root, replicas, content_type,
                                 metadata, creator, request_id)
            VALUES ($1, $2, coalesce((SELECT max(version) FROM objects
                                      WHERE namespace = $1 AND name = $2), 0) + 1,
                    $3, $4, $5, $6, $7, $8)
            RETURNING version
            """,
            namespace,
            name,
            root,
            replicas,
            content_type,
            json.dumps(metadata),
            creator,
            request_id,
        )
    )


async def used_bytes(db: Executor, namespace: str) -> int:
    """Bytes of live objects in a namespace."""
    return int(
        await db.fetchval(
            "SELECT coalesce(sum(c.size), 0) FROM objects o JOIN contents c USING (root)"
            " WHERE o.namespace = $1 AND o.deleted_at IS NULL",
            namespace,
        )
    )


async def with_root(db: Executor, namespace: str, root: bytes) -> list[StoredObject]:
    """Every version (deleted ones too: backups) in a namespace with that root."""
    rows = await db.fetch(
        _SELECT + " WHERE o.namespace = $1 AND o.root = $2 ORDER BY o.name, o.version",
        namespace,
        root,
    )
    return [_object(r) for r in rows]


async def set_verification(
    db: Executor, root: bytes, state: VerifyState, detail: str, now: datetime
) -> None:
    """Record a check's outcome; verified_at moves only when it succeeded."""
    await db.execute(
        """
        UPDATE contents SET verify_state = $2, verify_detail = $3, checked_at = $4,
               verified_at = CASE WHEN $2 = 'verified' THEN $4 ELSE verified_at END
        WHERE root = $1
        """,
        root,
        state.value,
        detail,
        now,
    )


async def set_tx_seq(db: Executor, root: bytes, tx_seq: int) -> None:
    """The content now lives under a newer tx (after a recovery)."""
    await db.execute("UPDATE contents SET tx_seq = $2 WHERE root = $1", root, tx_seq)


async def due_for_check(
    db: Executor, namespace: str | None, checked_before: datetime | None, limit: int
) -> list[Content]:
    """Contents of objects (deleted ones too) not checked since `checked_before`, oldest first."""
    rows = await db.fetch(
        """
        SELECT c.* FROM contents c
        WHERE EXISTS (SELECT 1 FROM objects o WHERE o.root = c.root
                      AND ($1::text IS NULL OR o.namespace = $1))
          AND ($2::timestamptz IS NULL OR c.checked_at IS NULL OR c.checked_at < $2)
        ORDER BY c.checked_at NULLS FIRST, c.root LIMIT $3
        """,
        namespace,
        checked_before,
        limit,
    )
    return [_content(r) for r in rows]


async def flagged(
    db: Executor, namespace: str | None, after: tuple[str, str, int], limit: int
) -> list[StoredObject]:
    """Objects whose content is degraded or lost, by namespace, name, version."""
    rows = await db.fetch(
        _SELECT
        + """
        WHERE c.verify_state IN ('degraded', 'lost') AND ($1::text IS NULL OR o.namespace = $1)
          AND (o.namespace, o.name, o.version) > ($2, $3, $4)
        ORDER BY o.namespace, o.name, o.version LIMIT $5
        """,
        namespace,
        *after,
        limit,
    )
    return [_object(r) for r in rows]


async def objects_of_roots(db: Executor, roots: list[bytes]) -> list[StoredObject]:
    """Every version pointing at these roots."""
    rows = await db.fetch(
        _SELECT + " WHERE o.root = ANY($1::bytea[]) ORDER BY o.namespace, o.name, o.version", roots
    )
    return [_object(r) for r in rows]


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
