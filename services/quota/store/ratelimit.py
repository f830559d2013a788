"""SQL of rate limits: rules per method and tier, and the permits granted against them.

Every admitted call is a permit of a grant in rate_grants: CheckRateLimit takes one permit and
uses it, a holder (an inference or storage replica) takes several and uses them locally. A
permit counts in every window of the subject's rules from the moment it was granted until it
is returned unused, so what all replicas hold and used together never passes a rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.quota.errors import (
    RateGrantNotFound,
    RateGrantNotOwned,
    RateLimited,
    RateLimitNotFound,
)
from services.quota.model import RateRule, RateWindow
from zerog_db import Executor

ANY_METHOD = "*"
ANY_TIER = ""
# A grant takes at most this share of what the tightest window has left, and one permit when
# less than this many are left: a permit stranded on a replica never refuses a call elsewhere
# that a small limit (10 a minute) should admit.
SHARE = 10


def _rule(row: asyncpg.Record) -> RateRule:
    return RateRule(row["method"], row["window_seconds"], row["max_requests"], row["tier"])


async def tier_of(db: Executor, subject: str, default_tier: str) -> str:
    """The subject's tier, or the default one."""
    tier = await db.fetchval("SELECT tier FROM subjects WHERE subject = $1", subject)
    return str(tier) if tier is not None else default_tier


async def rules_for(
    db: Executor, method: str, tier: str, defaults: list[RateRule]
) -> list[RateRule]:
    """The most specific rules stored: the method's for the tier, the method's for every tier,
    "*" for the tier, "*" for every tier; else the configured defaults."""
    rows = await db.fetch(
        "SELECT * FROM rate_limits WHERE method = ANY($1::text[]) AND tier = ANY($2::text[])"
        " ORDER BY window_seconds",
        [method, ANY_METHOD],
        [tier, ANY_TIER],
    )
    stored = [_rule(r) for r in rows]
    for wanted in ((method, tier), (method, ANY_TIER), (ANY_METHOD, tier), (ANY_METHOD, ANY_TIER)):
        found = [rule for rule in stored if (rule.method, rule.tier) == wanted]
        if found:
            return found
    return [RateRule(method, d.window_seconds, d.max_requests) for d in defaults]


@dataclass(frozen=True)
class PermitAsk:
    """What a holder asks for."""

    subject: str
    method: str
    permits: int
    holder: str
    hold: timedelta


@dataclass(frozen=True)
class Granted:
    """A grant, or the rule that refused one and when its window frees a slot."""

    grant_id: str | None = None
    permits: int = 0
    expires_at: datetime | None = None
    refused_by: RateRule | None = None
    retry_after: timedelta = timedelta(0)
    windows: list[RateWindow] = field(default_factory=list)


def _refusal(
    rule: RateRule, held: list[tuple[datetime, int]], now: datetime
) -> tuple[int, timedelta | None]:
    """What the rule has left given `held` (grant time, permits counting; newest first), and
    when it is full, how long until enough of the oldest permits leave its window for one."""
    window = timedelta(seconds=rule.window_seconds)
    inside = [(at, n) for at, n in held if at > now - window]
    left = rule.max_requests - sum(n for _, n in inside)
    if left > 0:
        return left, None
    to_free = 1 - left
    for at, n in reversed(inside):
        to_free -= n
        if to_free <= 0:
            return left, at + window - now
    return left, window  # a rule of 0: never frees, say the whole window


async def grant(
    conn: Executor,
    service: str,
    ask: PermitAsk,
    now: datetime,
    default_tier: str,
    defaults: list[RateRule],
) -> Granted:
    """Grant up to ask.permits permits if every rule has one left; otherwise grant nothing and
    say which rule refused. Runs inside the caller's transaction."""
    # Serializes grants of one subject and method across replicas; the key is length-prefixed
    # so "a" + "bc" and "ab" + "c" never share a lock by accident.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        f"{len(ask.subject)}:{ask.subject}{ask.method}",
    )
    tier = await tier_of(conn, ask.subject, default_tier)
    rules = await rules_for(conn, ask.method, tier, defaults)
    hold = ask.hold
    windows: list[RateWindow] = []
    permits = ask.permits
    if rules:
        longest = max(rule.window_seconds for rule in rules)
        held = [
            (row["granted_at"], int(row["n"]))
            for row in await conn.fetch(
                "SELECT granted_at, permits - returned AS n FROM rate_grants"
                " WHERE subject = $1 AND method = $2 AND granted_at > $3 AND permits > returned"
                " ORDER BY granted_at DESC",
                ask.subject,
                ask.method,
                now - timedelta(seconds=longest),
            )
        ]
        standing = [(rule, *_refusal(rule, held, now)) for rule in rules]
        refusals = [(wait, rule) for rule, _, wait in standing if wait is not None]
        if refusals:
            wait, rule = max(refusals, key=lambda refusal: refusal[0])
            windows = [RateWindow(rule, max(left, 0)) for rule, left, _ in standing]
            return Granted(refused_by=rule, retry_after=wait, windows=windows)
        left = min(left for _, left, _ in standing)
        permits = min(permits, max(1, left // SHARE))
        windows = [RateWindow(rule, rule_left - permits) for rule, rule_left, _ in standing]
        # A permit used after its shortest window has moved on would count in a window it was
        # not granted in.
        hold = min(hold, timedelta(seconds=min(rule.window_seconds for rule in rules)))
    grant_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO rate_grants (grant_id, subject, method, service, holder, permits,"
        " granted_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        grant_id,
        ask.subject,
        ask.method,
        service,
        ask.holder,
        permits,
        now,
        now + hold,
    )
    return Granted(grant_id, permits, now + hold, windows=windows)


async def return_unused(pool: asyncpg.Pool, service: str, grant_id: str, unused: int) -> None:
    """Stop counting `unused` permits of the grant (once; a second return changes nothing)."""
    row = await pool.fetchrow(
        "UPDATE rate_grants SET returned = least($3, permits)"
        " WHERE grant_id = $1 AND service = $2 AND returned = 0 RETURNING grant_id",
        grant_id,
        service,
        unused,
    )
    if row is not None:
        return
    owner = await pool.fetchval("SELECT service FROM rate_grants WHERE grant_id = $1", grant_id)
    if owner is None:
        raise RateGrantNotFound(grant_id)
    if owner != service:
        raise RateGrantNotOwned(grant_id, owner)


async def check(
    pool: asyncpg.Pool,
    service: str,
    subject: str,
    method: str,
    now: datetime,
    default_tier: str,
    defaults: list[RateRule],
) -> list[RateWindow]:
    """Count one call if every rule allows it; otherwise raise RateLimited and count nothing."""
    ask = PermitAsk(subject, method, 1, f"check:{service}", timedelta(0))
    async with pool.acquire() as conn, conn.transaction():
        found = await grant(conn, service, ask, now, default_tier, defaults)
    if found.refused_by is not None:
        raise RateLimited(subject, found.refused_by, found.retry_after)
    return found.windows


async def set_rule(pool: asyncpg.Pool, rule: RateRule) -> None:
    """Store a rule (method, tier and window identify it)."""
    await pool.execute(
        "INSERT INTO rate_limits (method, tier, window_seconds, max_requests)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (method, tier, window_seconds) DO UPDATE SET max_requests = $4",
        rule.method,
        rule.tier,
        rule.window_seconds,
        rule.max_requests,
    )


async def delete_rule(pool: asyncpg.Pool, method: str, tier: str, window_seconds: int) -> None:
    """Remove a stored rule."""
    done = await pool.execute(
        "DELETE FROM rate_limits WHERE method = $1 AND tier = $2 AND window_seconds = $3",
        method,
        tier,
        window_seconds,
    )
    if done == "DELETE 0":
        raise RateLimitNotFound(method, window_seconds)


async def list_rules(pool: asyncpg.Pool) -> list[RateRule]:
    """Every stored rule."""
    return [
        _rule(r)
        for r in await pool.fetch("SELECT * FROM rate_limits ORDER BY method, tier, window_seconds")
    ]


async def prune(pool: asyncpg.Pool, now: datetime, defaults: list[RateRule]) -> int:
    """Drop calls and grants older than the longest window of any rule; they can never count
    again."""
    stored = await pool.fetchval("SELECT max(window_seconds) FROM rate_limits")
    longest = max([stored or 0, *(rule.window_seconds for rule in defaults)])
    since = now - timedelta(seconds=longest)
    events = await pool.execute("DELETE FROM rate_events WHERE at < $1", since)
    grants = await pool.execute("DELETE FROM rate_grants WHERE granted_at < $1", since)
    return int(events.split()[-1]) + int(grants.split()[-1])
