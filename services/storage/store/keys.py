"""SQL for namespace data keys (stored wrapped by the master key)."""

from __future__ import annotations

from zerog_db import Executor


async def add_if_absent(db: Executor, namespace: str, wrapped: bytes) -> None:
    """Keep `wrapped` as the namespace's key unless it has one (another replica won the race)."""
    await db.execute(
        "INSERT INTO namespace_keys (namespace, wrapped) VALUES ($1, $2)"
        " ON CONFLICT (namespace) DO NOTHING",
        namespace,
        wrapped,
    )


async def get(db: Executor, namespace: str) -> bytes | None:
    """The namespace's wrapped key, if it has one."""
    wrapped = await db.fetchval(
        "SELECT wrapped FROM namespace_keys WHERE namespace = $1", namespace
    )
    return None if wrapped is None else bytes(wrapped)


async def delete(db: Executor, namespace: str) -> None:
    """Forget the namespace's key: what was sealed under it can no longer be read."""
    await db.execute("DELETE FROM namespace_keys WHERE namespace = $1", namespace)
