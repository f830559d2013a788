"""SQL for users' preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.scheduler.errors import UserNotFound
from services.scheduler.model import Kind, QuietHours, User
from zerog_db import Executor

_COLUMNS = (
    "user_id, time_zone, quiet_start_minute, quiet_end_minute, enabled, webhook_url, email,"
    " alert_threshold_bps, created_at, updated_at"
)


def _user(row: asyncpg.Record) -> User:
    quiet = None
    if row["quiet_start_minute"] is not None and row["quiet_end_minute"] is not None:
        quiet = QuietHours(row["quiet_start_minute"], row["quiet_end_minute"])
    return User(
        row["user_id"],
        row["time_zone"],
        quiet,
        frozenset(Kind(k) for k in row["enabled"]),
        row["webhook_url"],
        row["email"],
        row["alert_threshold_bps"],
        row["created_at"],
        row["updated_at"],
    )


def _args(user: User) -> tuple[object, ...]:
    quiet = user.quiet_hours
    return (
        user.user_id,
        user.time_zone,
        quiet.start_minute if quiet else None,
        quiet.end_minute if quiet else None,
        sorted(k.value for k in user.enabled),
        user.webhook_url,
        user.email,
        user.alert_threshold_bps,
    )


_UPSERT = f"""
    INSERT INTO users ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
    ON CONFLICT (user_id) DO UPDATE SET time_zone = $2, quiet_start_minute = $3,
        quiet_end_minute = $4, enabled = $5, webhook_url = $6, email = $7,
        alert_threshold_bps = $8, updated_at = $9
"""


async def set_user(db: Executor, user: User, now: datetime) -> User:
    """Create or replace a user's preferences."""
    row = await db.fetchrow(f"{_UPSERT} RETURNING {_COLUMNS}", *_args(user), now)
    assert row is not None
    return _user(row)


async def set_users(db: Executor, users: Sequence[User], now: datetime) -> None:
    """Create or replace many users at once (bulk loads)."""
    await db.executemany(_UPSERT, [(*_args(u), now) for u in users])


async def get_user(db: Executor, user_id: str) -> User:
    """One user, or UserNotFound."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1", user_id)
    if row is None:
        raise UserNotFound(user_id)
    return _user(row)


async def users_by_id(db: Executor, user_ids: Sequence[str]) -> dict[str, User]:
    """The users among `user_ids` that still exist."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM users WHERE user_id = ANY($1)", user_ids)
    return {row["user_id"]: _user(row) for row in rows}


async def list_users(db: Executor, after: str, limit: int) -> list[User]:
    """Users with ids after `after`, by id."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2", after, limit
    )
    return [_user(r) for r in rows]


async def delete_user(db: Executor, user_id: str) -> bool:
    """Remove a user and their data; False when absent."""
    result = await db.execute("DELETE FROM users WHERE user_id = $1", user_id)
    return result != "DELETE 0"


async def zones_for(db: Executor, kind: Kind, created_before: datetime) -> list[str]:
    """The time zones of users who want `kind` and existed at `created_before`."""
    rows = await db.fetch(
        "SELECT DISTINCT time_zone FROM users WHERE $1 = ANY(enabled) AND created_at <= $2",
        kind.value,
        created_before,
    )
    return [r["time_zone"] for r in rows]


async def zone_first_joined(
    db: Executor, kind: Kind, created_before: datetime
) -> dict[str, datetime]:
    """Per time zone of users who want `kind`, when the first of them joined."""
    rows = await db.fetch(
        "SELECT time_zone, min(created_at) AS first FROM users"
        " WHERE $1 = ANY(enabled) AND created_at <= $2 GROUP BY time_zone",
        kind.value,
        created_before,
    )
    return {r["time_zone"]: r["first"] for r in rows}
