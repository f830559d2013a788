"""Advisory locks that serialise work across broker replicas (held until the transaction ends)."""

from __future__ import annotations

from zerog_db import Connection
from zerog_signing import keccak256


def key_of(namespace: str, address: str) -> int:
    """The lock key of one address within a namespace ("broker.nonce", "broker.topup")."""
    digest = keccak256(f"{namespace}:{address.lower()}".encode())
    return int.from_bytes(digest[:8], "big", signed=True)


async def hold(conn: Connection, key: int) -> None:
    """Wait for the lock `key` (a key_of value) and hold it until `conn`'s transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", key)


async def hold_named(conn: Connection, name: str) -> None:
    """As `hold`, keyed by the name's hashtext."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
