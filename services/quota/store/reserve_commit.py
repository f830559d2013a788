"""SQL of the hot path: Reserve and Commit, one statement each, their request claimed in it.

Each statement claims the request in the `idempotency` table (zerog_db.Once.statement) and
then calls migration 003/004's plpgsql function, which prices, locks, checks and writes. The
claim comes first (the function takes an argument from it), so a concurrent duplicate waits
on the claim's key and then replays the answer, instead of queueing on the subject's usage rows
and being judged against a budget its twin already spent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.quota.errors import (
    CommitItemNotReserved,
    QuotaExceeded,
    ReservationFinished,
    TierNotFound,
)
from services.quota.model import (
    CostRecord,
    PricedItem,
    Reservation,
    Unit,
    UsageItem,
    month_of,
    totals,
)
from services.quota.store import leases
from services.quota.store.records import record_for, record_of
from services.quota.store.reservations import by_request, expire_due, owned, reservation_of
from zerog_db import Once, Request, RequestIdReused


@dataclass(frozen=True)
class Ask:
    """What a Reserve asks for."""

    subject: str
    operation: str
    items: list[UsageItem]
    ttl: timedelta


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def reserve_request(service: str, request_id: str, ask: Ask) -> Request:
    """The Reserve's idempotency key; its fingerprint is what reservations.request_hash holds."""
    items = [f"{i.unit.value}:{i.price_key}:{i.amount}" for i in ask.items]
    fingerprint = _fingerprint(ask.subject, ask.operation, str(ask.ttl.total_seconds()), *items)
    return Request(service, request_id, "Reserve", fingerprint)


def _claimed(request: Request, first: int, call: str) -> tuple[str, tuple[object, ...]]:
    """`call` (a function of migration 003/004 whose first argument is `claim.id`, the
    statement's $1) after the claim of `request`, whose parameters start at `first`."""
    claim, args = Once.statement(request, first)
    sql = (
        f"WITH claim AS ({claim} RETURNING $1::uuid AS id) SELECT f.* FROM claim, LATERAL {call} f"
    )
    return sql, args


async def reserve(
    pool: asyncpg.Pool, once: Once, request: Request, ask: Ask, now: datetime, default_tier: str
) -> Reservation:
    """Set usage aside if every budget it draws on can afford it; retries return the first."""
    try:
        try:
            return await _reserve(pool, request, ask, now, default_tier)
        except QuotaExceeded:
            # Reservations past their deadline hold budget until expired (the sweeper does it in
            # the background): expire the subject's now, and try again if any were freed. Only on
            # a refusal, so an affordable Reserve costs no extra round trip.
            freed = await expire_due(pool, now, subject=ask.subject)
            if not freed + await leases.expire_due(pool, now, subject=ask.subject):
                raise
            return await _reserve(pool, request, ask, now, default_tier)
    except asyncpg.UniqueViolationError as error:
        if not Once.is_duplicate(error):
            raise
    # A retry (or its concurrent twin) of a Reserve that was made: answer as it was.
    await once.replay(request)
    found = await by_request(pool, request.scope, request.request_id)
    assert found is not None, "a claimed Reserve has its reservation"
    return found


async def _reserve(
    pool: asyncpg.Pool, request: Request, ask: Ask, now: datetime, default_tier: str
) -> Reservation:
    sql, claim = _claimed(
        request,
        14,
        "reserve(claim.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    try:
        row = await pool.fetchrow(
            sql,
            uuid.uuid4(),
            request.scope,
            request.request_id,
            request.fingerprint,
            ask.subject,
            ask.operation,
            [item.unit.value for item in ask.items],
            [item.price_key for item in ask.items],
            [item.amount for item in ask.items],
            now,
            now + ask.ttl,
            month_of(now),
            default_tier,
            *claim,
        )
    except asyncpg.RaiseError as error:
        raise _refusal(error, ask.subject, request.request_id, default_tier) from None
    return reservation_of(row)


def _refusal(error: asyncpg.RaiseError, subject: str, request_id: str, tier: str) -> Exception:
    """The domain error a 'quota:*' refusal of migration 003's functions stands for."""
    message, detail = error.args[0] if error.args else "", error.detail or ""
    match message:
        case "quota:exceeded":
            found = json.loads(detail)
            return QuotaExceeded(
                subject, Unit(found["unit"]), found["limit"], found["available"], found["requested"]
            )
        case "quota:request_id_reused":
            return RequestIdReused(request_id)
        case "quota:tier_not_found":
            return TierNotFound(detail or tier)
    return error


def _commit_items(
    reservation: Reservation, used: list[UsageItem]
) -> tuple[list[PricedItem], list[PricedItem]]:
    """The reserved items at the used amounts, and the part of them beyond the reservation.

    Usage above the reservation is what the operation really cost: billed in full at the
    reserved price, never capped. Only items that were not reserved at all are refused.
    """
    by_key = {(i.unit, i.price_key): i for i in reservation.items}
    amounts = {key: 0 for key in by_key}
    problems = {}
    for index, item in enumerate(used):
        key = (item.unit, item.price_key)
        if key not in by_key:
            problems[f"items[{index}]"] = "not in the reservation (unit and price_key must match)"
        else:
            amounts[key] += item.amount
    if problems:
        raise CommitItemNotReserved(problems)
    items = [by_key[key].with_amount(amount) for key, amount in amounts.items()]
    overage = [
        by_key[key].with_amount(amount - by_key[key].amount)
        for key, amount in amounts.items()
        if amount > by_key[key].amount
    ]
    return items, overage


async def commit(
    pool: asyncpg.Pool,
    once: Once,
    service: str,
    reservation_id: str,
    used: list[UsageItem],
    metadata: dict[str, str],
    now: datetime,
    default_tier: str,
) -> tuple[Reservation, CostRecord]:
    """Record the usage, give back the rest, write the cost record and raise any alerts.

    Late (past the deadline, even once expired) and above-reservation usage is recorded and
    counted like any other, its cost record flagged; only admissions are held to the limits.
    """
    reservation = await owned(pool, service, reservation_id)
    items, overage = _commit_items(reservation, used)
    # The reservation is the key: committing it again with the same amounts is a retry.
    request = Request(
        service,
        f"commit:{reservation_id}",
        "Commit",
        _fingerprint(*(f"{i.unit.value}:{i.price_key}:{i.amount}" for i in items)),
    )
    try:
        return await _commit(
            pool, request, reservation, items, overage, metadata, now, default_tier
        )
    except asyncpg.UniqueViolationError as error:
        if not Once.is_duplicate(error):
            raise
    try:
        await once.replay(request)
    except RequestIdReused:
        raise ReservationFinished(reservation_id, "committed") from None
    return await owned(pool, service, reservation_id), await record_for(pool, reservation_id)


async def _commit(
    pool: asyncpg.Pool,
    request: Request,
    reservation: Reservation,
    items: list[PricedItem],
    overage: list[PricedItem],
    metadata: dict[str, str],
    now: datetime,
    default_tier: str,
) -> tuple[Reservation, CostRecord]:
    # A reservation's items never change, so the deltas computed from this read hold when
    # commit_reservation() (migration 004) has locked the rows: one statement for the rest.
    reserved = totals(reservation.items)
    spent = totals(items)
    units = sorted(set(reserved) | set(spent))
    sql, claim = _claimed(
        request,
        13,
        "commit_reservation(claim.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    try:
        row = await pool.fetchrow(
            sql,
            uuid.UUID(reservation.reservation_id),
            reservation.subject,
            reservation.period,
            [item.to_json() for item in items],
            sum(item.cost_micro_usd for item in items),
            [unit.value for unit in units],
            [spent.get(unit, 0) for unit in units],
            [-reserved.get(unit, 0) for unit in units],
            metadata,
            now,
            default_tier,
            [item.to_json() for item in overage],
            *claim,
        )
    except asyncpg.RaiseError as error:
        if error.args and error.args[0] == "quota:finished":
            raise ReservationFinished(reservation.reservation_id, error.detail or "") from None
        raise _refusal(error, reservation.subject, "", default_tier) from None
    assert row is not None
    record = {key.removeprefix("rec_"): v for key, v in row.items() if key.startswith("rec_")}
    return reservation_of(row), record_of(record)
