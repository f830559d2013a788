"""SQL for namespaces and their ACLs."""

from __future__ import annotations

import json

import asyncpg

from services.storage.errors import NamespaceExists, NamespaceNotEmpty
from services.storage.model import Namespace, Permission, Retention
from services.storage.store import keys
from zerog_db import Connection, Executor

_ACL = """coalesce((SELECT jsonb_object_agg(a.principal, a.permission) FROM acl a
                 WHERE a.namespace = n.name), '{}'::jsonb) AS acl"""
_SELECT = f"""
SELECT n.*,
       coalesce((SELECT sum(coalesce(o.plain_size, c.size))
                 FROM objects o JOIN contents c USING (root)
                 WHERE o.namespace = n.name AND o.deleted_at IS NULL), 0)::bigint AS used_bytes,
       {_ACL}
FROM namespaces n
"""
# The same row without the usage sum, which reads every live object of the namespace.
_SELECT_ACCESS = f"""
SELECT n.*, 0::bigint AS used_bytes, {_ACL}
FROM namespaces n WHERE n.name = $1 AND n.deleted_at IS NULL
"""


def _namespace(row: asyncpg.Record) -> Namespace:
    acl = json.loads(row["acl"]) if isinstance(row["acl"], str) else row["acl"]
    meta = row["metadata"]
    return Namespace(
        name=row["name"],
        owner=row["owner"],
        acl={k: Permission(int(v)) for k, v in acl.items()},
        metadata=json.loads(meta) if isinstance(meta, str) else dict(meta),
        quota_bytes=row["quota_bytes"],
        used_bytes=row["used_bytes"],
        retention=Retention(row["expire_after_seconds"], row["keep_versions"]),
        default_replicas=row["default_replicas"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get(db: Executor, name: str) -> Namespace | None:
    """A live namespace by name."""
    row = await db.fetchrow(_SELECT + " WHERE n.name = $1 AND n.deleted_at IS NULL", name)
    return None if row is None else _namespace(row)


async def get_for_access(db: Executor, name: str) -> Namespace | None:
    """A live namespace with its ACL but no usage figure (one index lookup: reads)."""
    row = await db.fetchrow(_SELECT_ACCESS, name)
    return None if row is None else _namespace(row)


async def lock(conn: Connection, name: str) -> None:
    """Serialise uploads into one namespace (its byte limit is checked under this lock)."""
    await conn.execute("SELECT 1 FROM namespaces WHERE name = $1 FOR UPDATE", name)


async def create(conn: Connection, namespace: Namespace, request_id: str) -> Namespace:
    """Insert a namespace and its ACL (in the caller's transaction); the one a request made
    before stored answers were kept (same owner and request_id) is returned as it is."""
    try:
        # A savepoint: a refused insert must leave the transaction usable for the lookup.
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO namespaces (name, owner, metadata, quota_bytes,
                                        expire_after_seconds, keep_versions,
                                        default_replicas, request_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                namespace.name,
                namespace.owner,
                json.dumps(namespace.metadata),
                namespace.quota_bytes,
                namespace.retention.expire_after_seconds,
                namespace.retention.keep_versions,
                namespace.default_replicas,
                request_id,
            )
    except asyncpg.UniqueViolationError:
        row = await conn.fetchrow(
            "SELECT owner, request_id FROM namespaces WHERE name = $1", namespace.name
        )
        if row is None or (row["owner"], row["request_id"]) != (namespace.owner, request_id):
            raise NamespaceExists(namespace.name) from None
    else:
        await _write_acl(conn, namespace.name, namespace.acl)
    found = await get(conn, namespace.name)
    if found is None:
        raise NamespaceExists(namespace.name)
    return found


async def _write_acl(conn: Connection, name: str, acl: dict[str, Permission]) -> None:
    await conn.execute("DELETE FROM acl WHERE namespace = $1", name)
    await conn.executemany(
        "INSERT INTO acl (namespace, principal, permission) VALUES ($1, $2, $3)",
        [(name, who, int(p)) for who, p in acl.items()],
    )


async def set_acl(conn: Connection, name: str, acl: dict[str, Permission]) -> None:
    """Replace the ACL of a namespace (in the caller's transaction)."""
    await _write_acl(conn, name, acl)
    await conn.execute("UPDATE namespaces SET updated_at = now() WHERE name = $1", name)


async def update(db: Executor, namespace: Namespace, fields: set[str]) -> None:
    """Write the named fields of `namespace`."""
    sets = {
        "metadata": ("metadata", json.dumps(namespace.metadata)),
        "quota_bytes": ("quota_bytes", namespace.quota_bytes),
        "default_replicas": ("default_replicas", namespace.default_replicas),
    }
    columns: list[tuple[str, object]] = [sets[f] for f in sorted(fields) if f in sets]
    if "retention" in fields:
        columns.append(("expire_after_seconds", namespace.retention.expire_after_seconds))
        columns.append(("keep_versions", namespace.retention.keep_versions))
    assignments = ", ".join(f"{col} = ${i + 2}" for i, (col, _) in enumerate(columns))
    await db.execute(
        f"UPDATE namespaces SET {assignments}, updated_at = now() WHERE name = $1",
        namespace.name,
        *(value for _, value in columns),
    )


async def delete(conn: Connection, name: str, force: bool) -> int:
    """Delete a namespace logically (and its live objects with `force`), in the caller's
    transaction; returns how many objects were deleted."""
    live = await conn.fetchval(
        "SELECT count(*) FROM objects WHERE namespace = $1 AND deleted_at IS NULL", name
    )
    if live and not force:
        raise NamespaceNotEmpty(name, live)
    await conn.execute(
        "UPDATE objects SET deleted_at = now() WHERE namespace = $1 AND deleted_at IS NULL",
        name,
    )
    await conn.execute(
        "UPDATE namespaces SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL", name
    )
    # Its copies on 0G stay where they are, public; without the key they are noise.
    await keys.delete(conn, name)
    return int(live)


async def list_readable(
    db: Executor, principals: frozenset[str], after: str, limit: int
) -> list[Namespace]:
    """Live namespaces the principals own or appear in the ACL of, by name, after `after`."""
    rows = await db.fetch(
        _SELECT
        + """
        WHERE n.deleted_at IS NULL AND n.name > $2
          AND (n.owner = ANY($1::text[])
               OR EXISTS (SELECT 1 FROM acl a WHERE a.namespace = n.name
                          AND a.principal = ANY($1::text[])))
        ORDER BY n.name LIMIT $3
        """,
        sorted(principals),
        after,
        limit,
    )
    return [_namespace(r) for r in rows]


async def all_names(db: Executor) -> list[str]:
    """Every live namespace name."""
    return [
        r["name"] for r in await db.fetch("SELECT name FROM namespaces WHERE deleted_at IS NULL")
    ]
