"""SQL of two-phase spending: reserve, commit, release and expiry of reservations.

Locking order, everywhere: a subject's usage rows first (sorted by unit and period), then the
reservation row. Concurrent reservations for one subject queue on its usage rows, which is what
makes a budget impossible to overspend.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from services.quota.errors import (
    CommitItemNotReserved,
    QuotaExceeded,
    RequestIdReused,
    ReservationFinished,
    ReservationNotFound,
    ReservationNotOwned,
    TierNotFound,
)
from services.quota.model import (
    CostRecord,
    PricedItem,
    Reservation,
    State,
    Unit,
    UsageItem,
    month_of,
    totals,
    usage_period,
)
from services.quota.records import record_of
from zerog_db import Connection, Executor

UsageKey = tuple[Unit, str]


@dataclass(frozen=True)
class ReserveArgs:
    """Everything a reservation is made of; `request_hash` tells retries from reuse."""

    service: str
    request_id: str
    request_hash: str
    subject: str
    operation: str
    items: list[UsageItem]
    ttl: timedelta


def _reservation(row: asyncpg.Record | None) -> Reservation:
    assert row is not None, "callers look up reservations they know exist"
    committed = row["committed_items"]
    return Reservation(
        reservation_id=str(row["reservation_id"]),
        service=row["service"],
        subject=row["subject"],
        operation=row["operation"],
        period=row["period"],
        items=[PricedItem.from_json(item) for item in row["items"]],
        cost_micro_usd=row["cost_micro_usd"],
        state=State(row["state"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        committed_items=None if committed is None else [PricedItem.from_json(i) for i in committed],
    )


def _keys(reservation_items: Iterable[PricedItem], month: str) -> list[UsageKey]:
    return sorted((unit, usage_period(unit, month)) for unit in totals(list(reservation_items)))


async def _lock_usage(
    conn: Connection, subject: str, keys: list[UsageKey]
) -> dict[UsageKey, tuple[int, int]]:
    """Create missing usage rows and lock them, always in the same order."""
    units = [unit.value for unit, _ in keys]
    periods = [period for _, period in keys]
    await conn.execute(
        "INSERT INTO usage (subject, unit, period)"
        " SELECT $1, u, p FROM unnest($2::text[], $3::text[]) AS k(u, p)"
        " ON CONFLICT DO NOTHING",
        subject,
        units,
        periods,
    )
    rows = await conn.fetch(
        "SELECT unit, period, used, reserved FROM usage"
        " WHERE subject = $1 AND (unit, period) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[]))"
        " ORDER BY unit, period FOR UPDATE",
        subject,
        units,
        periods,
    )
    return {(Unit(r["unit"]), r["period"]): (r["used"], r["reserved"]) for r in rows}


async def _add_usage(
    conn: Connection, subject: str, month: str, deltas: dict[Unit, tuple[int, int]]
) -> None:
    """Add (used, reserved) deltas to a subject's usage rows, which the caller has locked."""
    if not deltas:
        return
    ordered = sorted(deltas.items())
    # One statement for every unit: the rows are locked already, so their order is free.
    await conn.execute(
        "UPDATE usage SET used = usage.used + d.used, reserved = usage.reserved + d.reserved"
        " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])"
        " AS d(unit, period, used, reserved)"
        " WHERE usage.subject = $1 AND usage.unit = d.unit AND usage.period = d.period",
        subject,
        [unit.value for unit, _ in ordered],
        [usage_period(unit, month) for unit, _ in ordered],
        [used for _, (used, _) in ordered],
        [reserved for _, (_, reserved) in ordered],
    )


async def reserve(
    pool: asyncpg.Pool, args: ReserveArgs, now: datetime, default_tier: str
) -> Reservation:
    """Set usage aside if every budget it draws on can afford it; retries return the first."""
    try:
        try:
            return await _reserve(pool, args, now, default_tier)
        except QuotaExceeded:
            # Reservations past their deadline hold budget until expired (the sweeper does it in
            # the background): expire the subject's now, and try again if any were freed. Only on
            # a refusal, so an affordable Reserve costs no extra round trip.
            if not await expire_due(pool, now, subject=args.subject):
                raise
            return await _reserve(pool, args, now, default_tier)
    except asyncpg.UniqueViolationError:
        # A concurrent retry with the same request_id won; answer as it did.
        found = await _by_request(pool, args)
        assert found is not None
        return found


async def _by_request(db: Executor, args: ReserveArgs) -> Reservation | None:
    row = await db.fetchrow(
        "SELECT * FROM reservations WHERE service = $1 AND request_id = $2",
        args.service,
        args.request_id,
    )
    if row is None:
        return None
    if row["request_hash"] != args.request_hash:
        raise RequestIdReused(args.request_id)
    return _reservation(row)


async def _reserve(
    pool: asyncpg.Pool, args: ReserveArgs, now: datetime, default_tier: str
) -> Reservation:
    # One statement (migration 003's reserve()): find the retry's reservation or price the
    # items, lock the subject's usage rows, check every budget and insert, atomically.
    try:
        row = await pool.fetchrow(
            "SELECT * FROM reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            uuid.uuid4(),
            args.service,
            args.request_id,
            args.request_hash,
            args.subject,
            args.operation,
            [item.unit.value for item in args.items],
            [item.price_key for item in args.items],
            [item.amount for item in args.items],
            now,
            now + args.ttl,
            month_of(now),
            default_tier,
        )
    except asyncpg.RaiseError as error:
        raise _refusal(error, args.subject, args.request_id, default_tier) from None
    return _reservation(row)


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


async def get(pool: Executor, reservation_id: str) -> Reservation:
    """A reservation by id."""
    row = await pool.fetchrow(
        "SELECT * FROM reservations WHERE reservation_id = $1", uuid.UUID(reservation_id)
    )
    if row is None:
        raise ReservationNotFound(reservation_id)
    return _reservation(row)


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
    reservation = await get(pool, reservation_id)
    if reservation.service != service:
        raise ReservationNotOwned(reservation_id, reservation.service)
    items, overage = _commit_items(reservation, used)
    # A reservation's items never change, so the deltas computed from this read hold when
    # commit_reservation() (migration 004) has locked the rows: one statement for the rest.
    reserved = totals(reservation.items)
    spent = totals(items)
    units = sorted(set(reserved) | set(spent))
    try:
        row = await pool.fetchrow(
            "SELECT * FROM commit_reservation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            uuid.UUID(reservation_id),
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
        )
    except asyncpg.RaiseError as error:
        if error.args and error.args[0] == "quota:finished":
            raise ReservationFinished(reservation_id, error.detail or "") from None
        raise _refusal(error, reservation.subject, "", default_tier) from None
    assert row is not None
    record = {key.removeprefix("rec_"): v for key, v in row.items() if key.startswith("rec_")}
    return _reservation(row), record_of(record)


async def release(
    pool: asyncpg.Pool, service: str, reservation_id: str, now: datetime
) -> Reservation:
    """Give a reservation back; released or expired ones are returned as they are."""
    reservation = await get(pool, reservation_id)
    if reservation.service != service:
        raise ReservationNotOwned(reservation_id, reservation.service)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_usage(conn, reservation.subject, _keys(reservation.items, reservation.period))
        reservation = _reservation(
            await conn.fetchrow(
                "SELECT * FROM reservations WHERE reservation_id = $1 FOR UPDATE",
                uuid.UUID(reservation_id),
            )
        )
        if reservation.state is State.COMMITTED:
            raise ReservationFinished(reservation_id, reservation.state.value)
        if reservation.state is State.RESERVED:
            state = State.EXPIRED if reservation.expires_at <= now else State.RELEASED
            reservation = await _finish(conn, reservation, state, now)
        return reservation


async def _finish(
    conn: Connection,
    reservation: Reservation,
    state: State,
    now: datetime,
    used: list[PricedItem] | None = None,
) -> Reservation:
    """Move a locked, reserved reservation to `state`, adjusting its locked usage rows."""
    reserved = totals(reservation.items)
    spent = totals(used or [])
    deltas = {unit: (spent.get(unit, 0), -amount) for unit, amount in reserved.items()}
    await _add_usage(conn, reservation.subject, reservation.period, deltas)
    await conn.execute(
        "UPDATE reservations SET state = $2, finished_at = $3, committed_items = $4"
        " WHERE reservation_id = $1",
        uuid.UUID(reservation.reservation_id),
        state.value,
        now,
        None if used is None else [item.to_json() for item in used],
    )
    return replace(reservation, state=state, committed_items=used)


async def expire_due(
    pool: asyncpg.Pool, now: datetime, subject: str | None = None, limit: int = 100
) -> int:
    """Expire reservations past their deadline (one subject's, or any), freeing their amounts."""
    rows = await pool.fetch(
        "SELECT * FROM reservations WHERE state = 'reserved' AND expires_at <= $1"
        " AND ($2::text IS NULL OR subject = $2) ORDER BY expires_at LIMIT $3",
        now,
        subject,
        limit,
    )
    expired = 0
    for row in rows:
        stale = _reservation(row)
        async with pool.acquire() as conn, conn.transaction():
            await _lock_usage(conn, stale.subject, _keys(stale.items, stale.period))
            locked = await conn.fetchrow(
                "SELECT * FROM reservations WHERE reservation_id = $1 AND state = 'reserved'"
                " FOR UPDATE SKIP LOCKED",
                uuid.UUID(stale.reservation_id),
            )
            if locked is not None:
                await _finish(conn, _reservation(locked), State.EXPIRED, now)
                expired += 1
    return expired
