"""SQL of budget leases: acquiring, reporting spends, returning and expiring (migration 007)."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.quota.errors import LeaseRefused, TierNotFound
from services.quota.model import month_of
from zerog_db import Executor


@dataclass(frozen=True)
class Lease:
    """Compute tokens, and their cost, set aside for one holder and subject (the columns of a
    leases row that callers see)."""

    lease_id: str
    subject: str
    holder: str
    price_key: str
    tokens: int
    cost_micro_usd: int
    micro_usd: int
    per_amount: int
    expires_at: datetime
    state: str
    period: str


_COLUMNS = [f.name for f in dataclasses.fields(Lease)]


@dataclass(frozen=True)
class Grant:
    """What AcquireLease found: the lease (None when too little was left), the tokens that were
    available, and those other leases and reservations hold."""

    lease: Lease | None
    available: int
    held: int


@dataclass(frozen=True)
class LeaseAsk:
    """What an AcquireLease asks for."""

    subject: str
    price_key: str
    tokens: int
    min_tokens: int
    holder: str
    operation: str
    ttl: timedelta


def lease_of(row: asyncpg.Record) -> Lease:
    """A lease from a row holding a leases row's columns."""
    return Lease(**{**{name: row[name] for name in _COLUMNS}, "lease_id": str(row["lease_id"])})


async def _call(db: Executor, sql: str, lease_id: str, *args: object) -> asyncpg.Record:
    """One row of a migration 007 function; its 'quota:*' refusals as domain errors."""
    try:
        row = await db.fetchrow(sql, *args)
    except asyncpg.RaiseError as error:
        match error.args[0] if error.args else "":
            case "quota:lease_not_found":
                raise LeaseRefused(lease_id, "LEASE_NOT_FOUND", "not found") from None
            case "quota:lease_not_owned":
                owner = f"belongs to service {error.detail!r}"
                raise LeaseRefused(lease_id, "LEASE_NOT_OWNED", owner) from None
            case "quota:spend_id_reused":
                reused = "has that spend_id with other tokens"
                raise LeaseRefused(lease_id, "SPEND_ID_REUSED", reused) from None
            case "quota:tier_not_found":
                raise TierNotFound(error.detail or "") from None
        raise
    assert row is not None
    return row


async def acquire(
    db: Executor, service: str, ask: LeaseAsk, now: datetime, default_tier: str
) -> Grant:
    """Grant up to `ask.tokens` of what the subject's budgets have left (none below min)."""
    row = await _call(
        db,
        "SELECT (f.lease).*, f.available, f.held FROM acquire_lease("
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) f",
        "",
        uuid.uuid4(),
        service,
        ask.holder,
        ask.subject,
        ask.operation,
        ask.price_key,
        ask.tokens,
        ask.min_tokens,
        now,
        now + ask.ttl,
        month_of(now),
        default_tier,
    )
    lease = None if row["lease_id"] is None else lease_of(row)
    return Grant(lease, row["available"], row["held"])


@dataclass(frozen=True)
class Spent:
    """What reporting one spend did: its cost, and whether it came after the lease's deadline."""

    cost_micro_usd: int
    late: bool


async def report(
    db: Executor,
    service: str,
    spend: tuple[str, str, int, dict[str, str]],
    now: datetime,
) -> Spent:
    """Count one spend (lease_id, spend_id, tokens, metadata) of a lease, once per spend_id: a
    retry with the same tokens replays."""
    lease_id, spend_id, tokens, metadata = spend
    sql = "SELECT * FROM report_lease_spend($1, $2, $3, $4, $5, $6)"
    args = (uuid.UUID(lease_id), service, spend_id, tokens, metadata, now)
    row = await _call(db, sql, lease_id, *args)
    return Spent(row["cost_micro_usd"], row["late"])


async def give_back(
    db: Executor, service: str, lease_id: str, spent: tuple[int, int], now: datetime
) -> Lease:
    """Return a lease, `spent` (tokens, cost) from it in all: it keeps holding only what was
    spent and not yet reported."""
    sql = "SELECT * FROM return_lease($1, $2, $3, $4, $5)"
    row = await _call(db, sql, lease_id, uuid.UUID(lease_id), service, *spent, now)
    return lease_of(row)


async def expire_due(pool: asyncpg.Pool, now: datetime, subject: str | None = None) -> int:
    """Give back what leases past their deadline (one subject's, or any) still hold; up to 20
    a call, in subject order (the one order several subjects' usage rows are locked in)."""
    expired: int = await pool.fetchval(
        "SELECT count(*) FROM (SELECT lease_id FROM leases WHERE state <> 'expired'"
        " AND expires_at <= $1 AND ($2::text IS NULL OR subject = $2)"
        " ORDER BY subject, lease_id LIMIT 20) due WHERE expire_lease(due.lease_id, $1)",
        now,
        subject,
    )
    return expired
