"""Forward-only numbered SQL migrations, one schema per service, applied under an advisory lock."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

# Migrations every schema gets, before its service's own: the kernel's tables (idempotency).
KERNEL_MIGRATIONS = Path(__file__).parent / "kernel_migrations"
_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class MigrationError(RuntimeError):
    """The migrations on disk and in the database disagree, or one failed."""


@dataclass(frozen=True)
class Migration:
    """One SQL file: `NNN_verb_noun.sql`."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """Read and order the migration files of one service; reject gaps and strays."""
    migrations = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected NNN_verb_noun.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"{directory}: versions must run 1, 2, 3... without gaps: {versions}")
    return migrations


def _lock_key(schema: str) -> int:
    # A stable signed 64-bit key per schema, so services never wait on each other's migrations.
    digest = hashlib.sha256(f"zerog.migrate.{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def migrate(dsn_or_conn: str | asyncpg.Connection, schema: str, directory: Path) -> int:
    """Apply the pending migrations of `schema`; return how many were applied.

    Safe when several replicas start at once: the first takes the advisory lock and applies,
    the others wait for it and then find nothing left to do.
    """
    if not _SCHEMA_NAME.match(schema):
        raise MigrationError(f"bad schema name {schema!r}")
    kernel = load_migrations(KERNEL_MIGRATIONS)
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn_or_conn) if isinstance(dsn_or_conn, str) else dsn_or_conn
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        try:
            count = await _apply(conn, schema, kernel, "kernel_migrations")
            return count + await _apply(conn, schema, migrations, "schema_migrations")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    finally:
        if isinstance(dsn_or_conn, str):
            await conn.close()


async def _apply(
    conn: asyncpg.Connection, schema: str, migrations: list[Migration], table: str
) -> int:
    await conn.execute(
        f"""
        CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE TABLE IF NOT EXISTS {schema}.{table} (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    applied = {
        row["version"]: row["checksum"]
        for row in await conn.fetch(f"SELECT version, checksum FROM {schema}.{table}")
    }
    known = {m.version for m in migrations}
    if unknown := sorted(set(applied) - known):
        # A newer release migrated this database: an old binary must not run against it.
        raise MigrationError(f"{schema}: database has migrations this code lacks: {unknown}")
    count = 0
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{schema}: migration {migration.version:03d}_{migration.name} was edited "
                    "after it was applied; add a new migration instead"
                )
            continue
        async with conn.transaction():
            # Unqualified names in a migration land in the service's own schema.
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {schema}.{table} (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied migration", extra={"schema": schema, "version": migration.version})
        count += 1
    return count
