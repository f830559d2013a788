"""Every SQL statement of the inference service (schema `inference`)."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from services.inference.errors import SessionNotFound
from zerog_db import Executor

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


@dataclass(frozen=True)
class SessionRow:
    """A chat session without its messages."""

    session_id: str
    user_id: str
    title: str
    model: str
    routing: bytes
    state: str
    portfolio_context: bytes | None
    context_updated_at: datetime | None
    tokens_used: int
    last_provider: str
    last_model: str
    compressions: int
    archive_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageRow:
    """A stored message."""

    message_id: int
    role: str
    content: str
    summary: bool
    tokens: int
    provider: str
    model: str
    created_at: datetime


@dataclass(frozen=True)
class NewMessage:
    """A message to store."""

    role: str
    content: str
    summary: bool = False
    tokens: int = 0
    provider: str = ""
    model: str = ""


def _row(kind: type[R], row: asyncpg.Record) -> R:
    """A `kind` from the columns named as its fields."""
    return kind(**{f.name: row[f.name] for f in dataclasses.fields(kind)})


def _session(row: asyncpg.Record) -> SessionRow:
    return dataclasses.replace(_row(SessionRow, row), session_id=str(row["session_id"]))


def _message(row: asyncpg.Record) -> MessageRow:
    return _row(MessageRow, row)


async def create_session(
    conn: Executor,
    *,
    user_id: str,
    title: str,
    model: str,
    routing: bytes,
    context: bytes | None,
    system_prompt: str,
    now: datetime,
) -> str:
    """Insert a session (and its system message); returns its id."""
    session_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO inference.chat_sessions (session_id, user_id, title, model, routing,"
        " portfolio_context, context_updated_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        session_id,
        user_id,
        title,
        model,
        routing,
        context,
        now if context is not None else None,
        now,
    )
    if system_prompt:
        await add_messages(conn, str(session_id), [NewMessage("system", system_prompt)], now)
    return str(session_id)


def _uuid(session_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(session_id)
    except ValueError:
        raise SessionNotFound(session_id) from None


async def get_session(db: Executor, session_id: str, *, lock: bool = False) -> SessionRow:
    """The session; SessionNotFound if there is none. `lock` holds it until the transaction ends."""
    row = await db.fetchrow(
        "SELECT * FROM inference.chat_sessions WHERE session_id = $1"
        + (" FOR UPDATE" if lock else ""),
        _uuid(session_id),
    )
    if row is None:
        raise SessionNotFound(session_id)
    return _session(row)


async def messages(db: Executor, session_id: str) -> list[MessageRow]:
    """System prompts, then the summary, then the conversation oldest first."""
    rows = await db.fetch(
        "SELECT * FROM inference.chat_messages WHERE session_id = $1"
        " ORDER BY (role = 'system' AND NOT summary) DESC, summary DESC, message_id",
        _uuid(session_id),
    )
    return [_message(r) for r in rows]


async def add_messages(
    conn: Executor, session_id: str, new: list[NewMessage], now: datetime
) -> None:
    """Append messages in order."""
    await conn.executemany(
        "INSERT INTO inference.chat_messages"
        " (session_id, role, content, summary, tokens, provider, model, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (_uuid(session_id), m.role, m.content, m.summary, m.tokens, m.provider, m.model, now)
            for m in new
        ],
    )


async def _update(
    conn: Executor, session_id: str, assignments: str, now: datetime, *values: object
) -> None:
    """Change one session and its updated_at ($2); `assignments` take `values` from $3."""
    await conn.execute(
        f"UPDATE inference.chat_sessions SET {assignments}, updated_at = $2 WHERE session_id = $1",
        _uuid(session_id),
        now,
        *values,
    )


async def record_reply(
    conn: Executor, session_id: str, *, tokens: int, provider: str, model: str, now: datetime
) -> None:
    """Count a model call's tokens and remember who answered."""
    await _update(
        conn,
        session_id,
        "tokens_used = tokens_used + $3,"
        " last_provider = CASE WHEN $4 = '' THEN last_provider ELSE $4 END,"
        " last_model = CASE WHEN $5 = '' THEN last_model ELSE $5 END",
        now,
        tokens,
        provider,
        model,
    )


async def compress(
    conn: Executor, session_id: str, removed: list[int], summary: NewMessage, now: datetime
) -> None:
    """Replace the `removed` messages with one summary (listed after system prompts)."""
    await conn.execute(
        "DELETE FROM inference.chat_messages"
        " WHERE session_id = $1 AND message_id = ANY($2::bigint[])",
        _uuid(session_id),
        removed,
    )
    await add_messages(conn, session_id, [summary], now)
    await _update(conn, session_id, "compressions = compressions + 1", now)


async def set_context(conn: Executor, session_id: str, context: bytes, now: datetime) -> None:
    """Replace the portfolio context and its timestamp."""
    await _update(conn, session_id, "portfolio_context = $3, context_updated_at = $2", now, context)


async def archive(conn: Executor, session_id: str, archive_id: str, now: datetime) -> None:
    """Mark the session archived with the storage id of its archive."""
    await _update(conn, session_id, "state = 'archived', archive_id = $3", now, archive_id)


async def delete_session(db: Executor, session_id: str) -> None:
    """Delete a session and its messages (cascade); nothing if it is gone."""
    try:
        sid = _uuid(session_id)
    except SessionNotFound:
        return
    await db.execute("DELETE FROM inference.chat_sessions WHERE session_id = $1", sid)


async def list_sessions(
    pool: asyncpg.Pool,
    user_id: str,
    *,
    include_archived: bool,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[SessionRow]:
    """A user's sessions, newest first, after the (created_at, id) cursor if given."""
    rows = await pool.fetch(
        "SELECT * FROM inference.chat_sessions WHERE user_id = $1"
        " AND ($2 OR state = 'active')"
        " AND ($3::timestamptz IS NULL OR (created_at, session_id) < ($3, $4::uuid))"
        " ORDER BY created_at DESC, session_id DESC LIMIT $5",
        user_id,
        include_archived,
        after[0] if after else None,
        uuid.UUID(after[1]) if after else None,
        limit,
    )
    return [_session(r) for r in rows]
