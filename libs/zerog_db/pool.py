"""The asyncpg pool every service uses, and which database errors mean "try again later"."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

# What store functions accept: a connection (inside a transaction) or the pool itself.
Connection = asyncpg.Connection | PoolConnectionProxy
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy

# Errors that mean the database is unreachable or restarting, not that the request is bad.
# Servers map them to UNAVAILABLE so callers retry instead of treating them as bugs.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # Rolling back a transaction whose connection died mid-query ("cannot switch to state N;
    # another operation is in progress"): seen when PostgreSQL restarts under load.
    asyncpg.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo: our pools hold no session state (see create_pool)."""


async def create_pool(
    dsn: str,
    *,
    search_path: str,
    min_size: int = 1,
    max_size: int = 10,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    """A pool confined to one service's schema, whose connections decode jsonb to Python values.

    `statement_cache_size=0` is needed behind pgbouncer in transaction mode.

    A released connection is not reset with asyncpg's default reset query (advisory unlock,
    CLOSE ALL, UNLISTEN, RESET ALL): that is a round trip on every release, and our code keeps
    no session state on pooled connections (advisory locks are transaction-scoped, LISTEN uses
    its own connection, settings come from the startup packet). asyncpg still rolls back a
    transaction left open before the connection returns to the pool.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        statement_cache_size=statement_cache_size,
        init=_init_connection,
        reset=_keep_session,
        # The service's SQL names its tables unqualified; they resolve in its own schema only.
        server_settings={"search_path": search_path},
    )
    assert pool is not None
    return pool


async def wait_for_database(dsn: str, within_seconds: float = 60.0) -> None:
    """Block until the database accepts a connection, so a pod starting before it does not crash."""
    deadline = time.monotonic() + within_seconds
    delay = 0.2
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except CONNECTION_ERRORS as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not ready, retrying", extra={"error": type(error).__name__})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            await conn.close()
            return
