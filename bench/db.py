"""A throwaway database for a benchmark: in the given server, or in a TempCluster of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.context import Context
from zerog_db.cluster import TempCluster


async def _admin(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def database(ctx: Context, prefix: str) -> Iterator[str]:
    """DSN of a new database, dropped afterwards: in ctx.postgres if set, else in a new cluster."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _server(ctx.postgres) as server:
        asyncio.run(_admin(server, f"CREATE DATABASE {name}"))
        try:
            yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        finally:
            asyncio.run(_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def _server(given: str | None) -> Iterator[str]:
    if given is not None:
        yield given
        return
    with TempCluster() as cluster:
        yield cluster.dsn
