"""What the host app pushes: portfolio snapshots and news."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.scheduler.errors import UserNotFound
from services.scheduler.model import NewsItem, Position, Snapshot
from zerog_db import Executor


def _snapshot(row: asyncpg.Record) -> Snapshot:
    return Snapshot(
        row["user_id"],
        row["as_of"],
        row["cash_micro_usd"],
        tuple(Position(**p) for p in row["positions"]),
    )


async def add_snapshot(db: Executor, snapshot: Snapshot, request_id: str) -> None:
    """Store a snapshot once per (user, request_id); UserNotFound for an unknown user.

    The key predates the idempotency table: a push answered before it existed and retried
    after still stores nothing twice."""
    positions = [
        {
            "symbol": p.symbol,
            "quantity": p.quantity,
            "price_micro_usd": p.price_micro_usd,
            "previous_close_micro_usd": p.previous_close_micro_usd,
        }
        for p in snapshot.positions
    ]
    try:
        await db.execute(
            "INSERT INTO snapshots (user_id, request_id, as_of, cash_micro_usd, positions)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, request_id) DO NOTHING",
            snapshot.user_id,
            request_id,
            snapshot.as_of,
            snapshot.cash_micro_usd,
            positions,
        )
    except asyncpg.ForeignKeyViolationError:
        raise UserNotFound(snapshot.user_id) from None


async def latest_snapshots(
    db: Executor, user_ids: Sequence[str], at_or_before: datetime
) -> dict[str, Snapshot]:
    """Each user's newest snapshot taken at or before a moment."""
    rows = await db.fetch(
        """
        SELECT DISTINCT ON (user_id) user_id, as_of, cash_micro_usd, positions FROM snapshots
        WHERE user_id = ANY($1) AND as_of <= $2 ORDER BY user_id, as_of DESC
        """,
        user_ids,
        at_or_before,
    )
    return {row["user_id"]: _snapshot(row) for row in rows}


async def add_news(db: Executor, items: Sequence[NewsItem]) -> int:
    """Store or replace news items by id."""
    await db.executemany(
        """
        INSERT INTO news (id, symbols, headline, summary, url, published_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET symbols = $2, headline = $3, summary = $4, url = $5,
            published_at = $6
        """,
        [(n.id, list(n.symbols), n.headline, n.summary, n.url, n.published_at) for n in items],
    )
    return len(items)


async def news_for(
    db: Executor, symbols: Sequence[str], since: datetime, until: datetime, limit: int
) -> list[NewsItem]:
    """The newest stories about any of `symbols` published in [since, until]."""
    rows = await db.fetch(
        """
        SELECT id, symbols, headline, summary, url, published_at FROM news
        WHERE symbols && $1 AND published_at >= $2 AND published_at <= $3
        ORDER BY published_at DESC, id LIMIT $4
        """,
        list(symbols),
        since,
        until,
        limit,
    )
    return [
        NewsItem(
            r["id"], tuple(r["symbols"]), r["headline"], r["summary"], r["url"], r["published_at"]
        )
        for r in rows
    ]
