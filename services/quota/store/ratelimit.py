"""SQL of rate limits: rules per method and a sliding-window log shared by every replica."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.quota.errors import RateLimited, RateLimitNotFound
from services.quota.model import RateRule, RateWindow
from zerog_db import Executor

ANY_METHOD = "*"


def _rule(row: asyncpg.Record) -> RateRule:
    return RateRule(row["method"], row["window_seconds"], row["max_requests"])


async def rules_for(db: Executor, method: str, defaults: list[RateRule]) -> list[RateRule]:
    """The method's own rules, else the stored "*" rules, else the configured defaults."""
    rows = await db.fetch(
        "SELECT * FROM rate_limits WHERE method = ANY($1::text[]) ORDER BY window_seconds",
        [method, ANY_METHOD],
    )
    own = [_rule(r) for r in rows if r["method"] == method]
    fallback = [_rule(r) for r in rows if r["method"] == ANY_METHOD]
    return own or fallback or [RateRule(method, d.window_seconds, d.max_requests) for d in defaults]


async def check(
    pool: asyncpg.Pool, subject: str, method: str, now: datetime, defaults: list[RateRule]
) -> list[RateWindow]:
    """Count one call if every rule allows it; otherwise raise RateLimited and count nothing."""
    async with pool.acquire() as conn, conn.transaction():
        # Serializes checks of one subject and method across replicas; the key is length-prefixed
        # so "a" + "bc" and "ab" + "c" never share a lock by accident.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"{len(subject)}:{subject}{method}",
        )
        rules = await rules_for(conn, method, defaults)
        if not rules:
            return []
        longest = max(rule.window_seconds for rule in rules)
        most = max(rule.max_requests for rule in rules)
        recent = [
            row["at"]
            for row in await conn.fetch(
                "SELECT at FROM rate_events WHERE subject = $1 AND method = $2 AND at > $3"
                " ORDER BY at DESC LIMIT $4",
                subject,
                method,
                now - timedelta(seconds=longest),
                most,
            )
        ]
        windows, refusals = [], []
        for rule in rules:
            window = timedelta(seconds=rule.window_seconds)
            inside = [at for at in recent if at > now - window]
            if len(inside) >= rule.max_requests:
                # The call becomes possible when the oldest call that fills the window leaves it.
                oldest = inside[rule.max_requests - 1] if rule.max_requests else now
                refusals.append((oldest + window - now, rule))
            windows.append(RateWindow(rule, max(rule.max_requests - len(inside) - 1, 0)))
        if refusals:
            retry_after, rule = max(refusals, key=lambda refusal: refusal[0])
            raise RateLimited(subject, rule, retry_after)
        await conn.execute(
            "INSERT INTO rate_events (subject, method, at) VALUES ($1, $2, $3)",
            subject,
            method,
            now,
        )
        return windows


async def set_rule(pool: asyncpg.Pool, rule: RateRule) -> None:
    """Store a rule (method and window identify it)."""
    await pool.execute(
        "INSERT INTO rate_limits (method, window_seconds, max_requests) VALUES ($1, $2, $3)"
        " ON CONFLICT (method, window_seconds) DO UPDATE SET max_requests = $3",
        rule.method,
        rule.window_seconds,
        rule.max_requests,
    )


async def delete_rule(pool: asyncpg.Pool, method: str, window_seconds: int) -> None:
    """Remove a stored rule."""
    done = await pool.execute(
        "DELETE FROM rate_limits WHERE method = $1 AND window_seconds = $2", method, window_seconds
    )
    if done == "DELETE 0":
        raise RateLimitNotFound(method, window_seconds)


async def list_rules(pool: asyncpg.Pool) -> list[RateRule]:
    """Every stored rule."""
    return [_rule(r) for r in await pool.fetch("SELECT * FROM rate_limits ORDER BY method, 2")]


async def prune(pool: asyncpg.Pool, now: datetime, defaults: list[RateRule]) -> int:
    """Drop calls older than the longest window of any rule; they can never count again."""
    stored = await pool.fetchval("SELECT max(window_seconds) FROM rate_limits")
    longest = max([stored or 0, *(rule.window_seconds for rule in defaults)])
    done = await pool.execute(
        "DELETE FROM rate_events WHERE at < $1", now - timedelta(seconds=longest)
    )
    return int(done.split()[-1])
