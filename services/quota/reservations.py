"""SQL of two-phase spending: reserve, commit, release and expiry of reservations.

Locking order, everywhere: a subject's usage rows first (sorted by unit and period), then the
reservation row. Concurrent reservations for one subject queue on its usage rows, which is what
makes a budget impossible to overspend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from services.quota.alerts import raise_alerts
from services.quota.errors import (
    CommitExceedsReservation,
    QuotaExceeded,
    RequestIdReused,
    ReservationFinished,
    ReservationNotFound,
    ReservationNotOwned,
)
from services.quota.limits import limits_of, prices_for
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
from services.quota.records import insert_cost_record, record_for_reservation
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
    async with pool.acquire() as conn, conn.transaction():
        if (found := await _by_request(conn, args)) is not None:
            return found
        prices = await prices_for(conn, {(item.unit, item.price_key) for item in args.items})
        items = [PricedItem(prices[(i.unit, i.price_key)], i.amount) for i in args.items]
        month = month_of(now)
        _, limits = await limits_of(conn, args.subject, default_tier)
        usage = await _lock_usage(conn, args.subject, _keys(items, month))
        need = totals(items)
        for unit, amount in need.items():
            limit = limits.of(unit)
            used, reserved = usage[(unit, usage_period(unit, month))]
            if limit is not None and used + reserved + amount > limit:
                available = max(limit - used - reserved, 0)
                raise QuotaExceeded(args.subject, unit, limit, available, amount)
        await _add_usage(conn, args.subject, month, {u: (0, a) for u, a in need.items()})
        row = await conn.fetchrow(
            """
            INSERT INTO reservations (reservation_id, service, request_id, request_hash, subject,
                operation, period, items, cost_micro_usd, state, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'reserved', $10, $11)
            RETURNING *
            """,
            uuid.uuid4(),
            args.service,
            args.request_id,
            args.request_hash,
            args.subject,
            args.operation,
            month,
            [item.to_json() for item in items],
            sum(item.cost_micro_usd for item in items),
            now,
            now + args.ttl,
        )
        return _reservation(row)


async def get(pool: Executor, reservation_id: str) -> Reservation:
    """A reservation by id."""
    row = await pool.fetchrow(
        "SELECT * FROM reservations WHERE reservation_id = $1", uuid.UUID(reservation_id)
    )
    if row is None:
        raise ReservationNotFound(reservation_id)
    return _reservation(row)


def _commit_items(reservation: Reservation, used: list[UsageItem]) -> list[PricedItem]:
    """The reserved items at the used amounts; refuses amounts over the reservation."""
    by_key = {(i.unit, i.price_key): i for i in reservation.items}
    amounts = {key: 0 for key in by_key}
    problems = {}
    for index, item in enumerate(used):
        key = (item.unit, item.price_key)
        if key not in by_key:
            problems[f"items[{index}]"] = "not in the reservation (unit and price_key must match)"
        else:
            amounts[key] += item.amount
    for key, amount in amounts.items():
        if amount > by_key[key].amount:
            problems[f"items[{key[0].value}/{key[1]}]"] = (
                f"{amount} used exceeds the {by_key[key].amount} reserved"
            )
    if problems:
        raise CommitExceedsReservation(problems)
    return [by_key[key].with_amount(amount) for key, amount in amounts.items()]


async def commit(
    pool: asyncpg.Pool,
    service: str,
    reservation_id: str,
    used: list[UsageItem],
    metadata: dict[str, str],
    now: datetime,
    default_tier: str,
) -> tuple[Reservation, CostRecord]:
    """Record the usage, give back the rest, write the cost record and raise any alerts."""
    # One connection for the lookup and the transaction: a pool round trip (and its reset) less.
    async with pool.acquire() as conn:
        reservation = await get(conn, reservation_id)
        if reservation.service != service:
            raise ReservationNotOwned(reservation_id, reservation.service)
        items = _commit_items(reservation, used)
        async with conn.transaction():
            done = await _commit_locked(
                conn, reservation, reservation_id, items, metadata, now, default_tier
            )
    if done is None:
        # Raised after the transaction so that the expiry itself is kept.
        raise ReservationFinished(reservation_id, State.EXPIRED.value)
    return done


async def _commit_locked(
    conn: Connection,
    reservation: Reservation,
    reservation_id: str,
    items: list[PricedItem],
    metadata: dict[str, str],
    now: datetime,
    default_tier: str,
) -> tuple[Reservation, CostRecord] | None:
    """Commit in the caller's transaction; None when the reservation had expired."""
    await _lock_usage(conn, reservation.subject, _keys(reservation.items, reservation.period))
    reservation = _reservation(
        await conn.fetchrow(
            "SELECT * FROM reservations WHERE reservation_id = $1 FOR UPDATE",
            uuid.UUID(reservation_id),
        )
    )
    if reservation.state is State.COMMITTED and reservation.committed_items == items:
        return reservation, await record_for_reservation(conn, reservation_id)
    if reservation.state is not State.RESERVED:
        raise ReservationFinished(reservation_id, reservation.state.value)
    if reservation.expires_at <= now:
        await _finish(conn, reservation, State.EXPIRED, now)
        return None
    reservation = await _finish(conn, reservation, State.COMMITTED, now, items)
    record = await insert_cost_record(conn, reservation, items, metadata, now)
    _, limits = await limits_of(conn, reservation.subject, default_tier)
    await raise_alerts(conn, reservation.subject, reservation.period, limits, now)
    return reservation, record


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
