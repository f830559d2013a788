"""Migrations: applied once under concurrency, forward-only, checked, all-or-nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest

from services.quota.__main__ import MIGRATIONS
from tests.support import auth_env
from zerog_db import migrate
from zerog_db.migrate import KERNEL_MIGRATIONS, MigrationError, load_migrations

# Every schema gets the kernel's migrations (the idempotency table) before its own.
KERNEL = len(load_migrations(KERNEL_MIGRATIONS))
QUOTA_MIGRATE = (sys.executable, "-m", "services.quota", "migrate")
ROOT = Path(__file__).resolve().parents[2]

SLOW_SECOND_MIGRATION = """
CREATE TABLE applied_runs (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
-- Long enough that every concurrent migrator is waiting on the lock meanwhile.
SELECT pg_sleep(0.3);
INSERT INTO applied_runs DEFAULT VALUES;
"""


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return write(
        tmp_path / "migrations",
        {
            "001_create_items.sql": "CREATE TABLE items (id bigint PRIMARY KEY);",
            "002_create_applied_runs.sql": SLOW_SECOND_MIGRATION,
        },
    )


async def test_replicas_migrating_at_once_apply_each_migration_once(
    fresh_db_url: str, migrations: Path
) -> None:
    counts = await asyncio.gather(*(migrate(fresh_db_url, "svc", migrations) for _ in range(6)))

    assert sorted(counts) == [0, 0, 0, 0, 0, KERNEL + 2]
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM svc.applied_runs") == 1
        versions = await conn.fetch("SELECT version FROM svc.schema_migrations ORDER BY version")
        assert [row["version"] for row in versions] == [1, 2]
    finally:
        await conn.close()


async def test_two_quota_processes_migrating_at_once_both_succeed(fresh_db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_db_url, **auth_env("quota")}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.quota", "migrate", env=env
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(60):
        assert [await p.wait() for p in processes] == [0, 0]
    conn = await asyncpg.connect(fresh_db_url)
    try:
        rows = await conn.fetch("SELECT version FROM quota.schema_migrations")
        assert len(rows) == len(load_migrations(MIGRATIONS))
    finally:
        await conn.close()


async def test_new_migrations_are_applied_after_the_old_ones(
    fresh_db_url: str, migrations: Path
) -> None:
    assert await migrate(fresh_db_url, "svc", migrations) == KERNEL + 2
    write(migrations, {"003_add_items_name.sql": "ALTER TABLE items ADD COLUMN name text;"})
    assert await migrate(fresh_db_url, "svc", migrations) == 1
    assert await migrate(fresh_db_url, "svc", migrations) == 0


async def test_an_edited_applied_migration_is_refused(fresh_db_url: str, migrations: Path) -> None:
    await migrate(fresh_db_url, "svc", migrations)
    write(migrations, {"001_create_items.sql": "CREATE TABLE items (id text PRIMARY KEY);"})
    with pytest.raises(MigrationError, match="was edited after it was applied"):
        await migrate(fresh_db_url, "svc", migrations)


async def test_old_code_refuses_a_database_migrated_by_newer_code(
    fresh_db_url: str, migrations: Path, tmp_path: Path
) -> None:
    await migrate(fresh_db_url, "svc", migrations)
    older = write(
        tmp_path / "older",
        {"001_create_items.sql": (migrations / "001_create_items.sql").read_text()},
    )
    with pytest.raises(MigrationError, match=r"lacks: \[2\]"):
        await migrate(fresh_db_url, "svc", older)


async def test_a_failing_migration_leaves_nothing_behind(
    fresh_db_url: str, migrations: Path
) -> None:
    await migrate(fresh_db_url, "svc", migrations)
    write(
        migrations,
        {"003_broken.sql": "CREATE TABLE half_done (id int); SELECT no_such_function();"},
    )
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate(fresh_db_url, "svc", migrations)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('svc.half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM svc.schema_migrations") == 2
        # The advisory lock was released: another migrator is not blocked.
        assert await migrate(conn, "svc", write(migrations, {"003_broken.sql": "SELECT 1;"})) == 1
    finally:
        await conn.close()


def test_gaps_and_stray_files_are_refused(tmp_path: Path) -> None:
    gap = write(tmp_path / "gap", {"001_a.sql": "", "003_c.sql": ""})
    with pytest.raises(MigrationError, match="without gaps"):
        load_migrations(gap)
    stray = write(tmp_path / "stray", {"001_a.sql": "", "2_Bad-Name.sql": ""})
    with pytest.raises(MigrationError, match="NNN_verb_noun"):
        load_migrations(stray)


async def test_make_migrate_applies_every_service_and_is_repeatable(fresh_db_url: str) -> None:
    """The runbook's `DATABASE_URL=... make migrate`, twice (the second run changes nothing)."""
    env = {**os.environ, "DATABASE_URL": fresh_db_url, **auth_env("quota")}
    for _ in range(2):
        make = await asyncio.create_subprocess_exec(
            "make",
            "--no-print-directory",
            "migrate",
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(180):
            assert await make.wait() == 0
    conn = await asyncpg.connect(fresh_db_url)
    try:
        schemas = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'schema_migrations'"
        )
        services = {p.parent.name for p in ROOT.glob("services/*/__main__.py")}
        assert {row["table_schema"] for row in schemas} == services
    finally:
        await conn.close()
