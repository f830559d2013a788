"""PostgresNonceStore: used nonces in a service's own schema, safe across replicas.

Each service owns its schema, so the table lives there. Put the DDL in one of the service's
migrations, for instance `services/broker/migrations/003_create_signing_nonces.sql`
holding the output of `nonce_table_ddl("broker")`:

    CREATE TABLE IF NOT EXISTS broker.signing_nonces (
        address text NOT NULL,
        nonce text NOT NULL,
        signed_at timestamptz NOT NULL,
        seen_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (address, nonce)
    );
    CREATE INDEX IF NOT EXISTS signing_nonces_signed_at_idx
        ON broker.signing_nonces (signed_at);

and build the store with `PostgresNonceStore(pool, table="broker.signing_nonces")`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["PostgresNonceStore", "nonce_table_ddl"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def _timestamp(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _check_identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"bad {what} {name!r}: lower-case letters, digits and _ only")
    return name


def nonce_table_ddl(schema: str) -> str:
    """CREATE TABLE IF NOT EXISTS for `<schema>.signing_nonces` and its pruning index."""
    _check_identifier(schema, "schema name")
    return (
        f"CREATE TABLE IF NOT EXISTS {schema}.signing_nonces (\n"
        "    address text NOT NULL,\n"
        "    nonce text NOT NULL,\n"
        "    signed_at timestamptz NOT NULL,\n"
        "    seen_at timestamptz NOT NULL DEFAULT now(),\n"
        "    PRIMARY KEY (address, nonce)\n"
        ");\n"
        "CREATE INDEX IF NOT EXISTS signing_nonces_signed_at_idx\n"
        f"    ON {schema}.signing_nonces (signed_at);\n"
    )


class PostgresNonceStore:
    """A NonceStore in `table` (`<schema>.signing_nonces`): one INSERT decides, so two
    replicas racing on the same nonce cannot both win. Given a connection instead of a pool, it
    records inside that connection's transaction: the nonce is spent only if the writes it
    authorizes commit."""

    def __init__(
        self, pool: asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy, table: str
    ) -> None:
        schema, dot, name = table.partition(".")
        if not dot:
            raise ValueError(
                f"table must be schema-qualified, like broker.signing_nonces: {table!r}"
            )
        self._pool = pool
        self._table = (
            f"{_check_identifier(schema, 'schema name')}.{_check_identifier(name, 'table name')}"
        )
        self._insert = (
            f"INSERT INTO {self._table} (address, nonce, signed_at, seen_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (address, nonce) DO NOTHING"
        )
        self._prune = f"DELETE FROM {self._table} WHERE signed_at < $1"
        self._used = f"SELECT 1 FROM {self._table} WHERE address = $1 AND nonce = $2"

    @property
    def table(self) -> str:
        """The schema-qualified table name."""
        return self._table

    async def record(self, address: str, nonce: str, signed_at_ms: int, seen_at_ms: int) -> bool:
        """Insert the pair; True if it is new, False if it was already recorded."""
        status = await self._pool.execute(
            self._insert, address, nonce, _timestamp(signed_at_ms), _timestamp(seen_at_ms)
        )
        # asyncpg returns the command tag: "INSERT 0 1" when a row went in, "INSERT 0 0" not.
        return bool(status.endswith(" 1"))

    async def used(self, address: str, nonce: str) -> bool:
        """Whether the pair was recorded."""
        return await self._pool.fetchval(self._used, address, nonce) is not None

    async def prune(self, signed_before_ms: int) -> int:
        """Delete pairs signed before `signed_before_ms`; return how many."""
        status = await self._pool.execute(self._prune, _timestamp(signed_before_ms))
        return int(status.rsplit(" ", 1)[1])
