"""One way to give each test a migrated database: a template per service, cloned per test.

    quota_template, quota_db_url = database_fixtures("quota", QUOTA_MIGRATIONS)

in a conftest gives a session fixture `quota_template` (a database with the service's
migrations applied) and a per-test fixture `quota_db_url` (a fresh clone of it, dropped after).
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from zerog_db import migrate


def with_database(dsn: str, name: str) -> str:
    """`dsn` pointing at database `name`."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def create_database(postgres_url: str, prefix: str, template: str = "") -> str:
    """A new database named `prefix_<hex>`, cloned from `template` when given."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(
            f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
        )
    finally:
        await admin.close()
    return name


async def drop_database(postgres_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def database_fixtures(schema: str, migrations: Path) -> tuple[Any, Any]:
    """(`<schema>_template`, `<schema>_db_url`) fixtures for a service's schema."""

    @pytest.fixture(scope="session", name=f"{schema}_template")
    async def template(postgres_url: str) -> AsyncIterator[str]:
        name = await create_database(postgres_url, f"{schema}_template")
        await migrate(with_database(postgres_url, name), schema, migrations)
        yield name
        await drop_database(postgres_url, name)

    async def db_url(postgres_url: str, **templates: str) -> AsyncIterator[str]:
        name = await create_database(postgres_url, schema, templates[f"{schema}_template"])
        yield with_database(postgres_url, name)
        await drop_database(postgres_url, name)

    # pytest finds a fixture's dependencies by parameter name: name the template's.
    param = inspect.Parameter
    db_url.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  # read by pytest
        [
            param("postgres_url", param.POSITIONAL_OR_KEYWORD, annotation=str),
            param(f"{schema}_template", param.KEYWORD_ONLY, annotation=str),
        ]
    )
    db_url_fixture = pytest.fixture(name=f"{schema}_db_url")(db_url)
    return template, db_url_fixture
