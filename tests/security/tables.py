"""Snapshots of what the database holds: every table of every schema, and row counts per table,
so a test can show a refused or hostile request left nothing behind."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

Counts = dict[str, int]


async def all_tables(url: str) -> set[str]:
    """`schema.table` for every base table outside PostgreSQL's own schemas."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    finally:
        await connection.close()
    return {f"{r['table_schema']}.{r['table_name']}" for r in rows}


async def row_counts(url: str, schemas: Iterable[str]) -> Counts:
    """Rows in each table of `schemas`, by `schema.table`."""
    wanted = set(schemas)
    connection = await asyncpg.connect(url)
    try:
        counts: Counts = {}
        for table in sorted(await all_tables(url)):
            schema, name = table.split(".", 1)
            if schema in wanted:
                counts[table] = await connection.fetchval(
                    f'SELECT count(*) FROM "{schema}"."{name}"'
                )
    finally:
        await connection.close()
    return counts


def changed(before: Counts, after: Counts) -> dict[str, tuple[int | None, int | None]]:
    """Tables whose row count differs (or that appeared or vanished)."""
    return {
        t: (before.get(t), after.get(t))
        for t in before.keys() | after.keys()
        if before.get(t) != after.get(t)
    }
