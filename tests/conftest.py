"""Fixtures every test suite shares: a throwaway PostgreSQL and fresh databases in it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from zerog_db.cluster import TempCluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """DSN of a PostgreSQL server with superuser rights: TEST_DATABASE_URL, or a throwaway one."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with TempCluster() as cluster:
        yield cluster.dsn


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
async def fresh_db_url(postgres_url: str) -> AsyncIterator[str]:
    """DSN of a new, empty database, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    yield _with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
