"""SQL of reservations outside the hot path: reading them, releasing them, expiring them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

import asyncpg

from services.quota.errors import ReservationFinished, ReservationNotFound, ReservationNotOwned
from services.quota.model import PricedItem, Reservation, State, totals
from services.quota.store.records import charge_columns
from services.quota.store.usage import add_usage, keys, lock_usage
from zerog_db import Connection, Executor


def reservation_of(row: asyncpg.Record | None) -> Reservation:
    """A reservation from its row (a reservations row, or a function's row that starts alike)."""
    assert row is not None, "callers look up reservations they know exist"
    committed = row["committed_items"]
    return Reservation(
        **charge_columns(row),
        reservation_id=str(row["reservation_id"]),
        state=State(row["state"]),
        expires_at=row["expires_at"],
        committed_items=None if committed is None else [PricedItem.from_json(i) for i in committed],
    )


async def get(db: Executor, reservation_id: str) -> Reservation:
    """A reservation by id."""
    row = await db.fetchrow(
        "SELECT * FROM reservations WHERE reservation_id = $1", uuid.UUID(reservation_id)
    )
    if row is None:
        raise ReservationNotFound(reservation_id)
    return reservation_of(row)


async def owned(db: Executor, service: str, reservation_id: str) -> Reservation:
    """A reservation by id, if `service` made it."""
    reservation = await get(db, reservation_id)
    if reservation.service != service:
        raise ReservationNotOwned(reservation_id, reservation.service)
    return reservation


async def by_request(db: Executor, service: str, request_id: str) -> Reservation | None:
    """The reservation a service's request_id made, if any."""
    row = await db.fetchrow(
        "SELECT * FROM reservations WHERE service = $1 AND request_id = $2", service, request_id
    )
    return None if row is None else reservation_of(row)


async def release(
    pool: asyncpg.Pool, service: str, reservation_id: str, now: datetime
) -> Reservation:
    """Give a reservation back; released or expired ones are returned as they are."""
    reservation = await owned(pool, service, reservation_id)
    async with pool.acquire() as conn, conn.transaction():
        await lock_usage(conn, reservation.subject, keys(reservation.items, reservation.period))
        reservation = reservation_of(
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
    conn: Connection, reservation: Reservation, state: State, now: datetime
) -> Reservation:
    """Move a locked, reserved reservation to `state` and give its amounts back."""
    deltas = {unit: (0, -amount) for unit, amount in totals(reservation.items).items()}
    await add_usage(conn, reservation.subject, reservation.period, deltas)
    await conn.execute(
        "UPDATE reservations SET state = $2, finished_at = $3, committed_items = NULL"
        " WHERE reservation_id = $1",
        uuid.UUID(reservation.reservation_id),
        state.value,
        now,
    )
    return replace(reservation, state=state, committed_items=None)


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
        stale = reservation_of(row)
        async with pool.acquire() as conn, conn.transaction():
            await lock_usage(conn, stale.subject, keys(stale.items, stale.period))
            locked = await conn.fetchrow(
                "SELECT * FROM reservations WHERE reservation_id = $1 AND state = 'reserved'"
                " FOR UPDATE SKIP LOCKED",
                uuid.UUID(stale.reservation_id),
            )
            if locked is not None:
                await _finish(conn, reservation_of(locked), State.EXPIRED, now)
                expired += 1
    return expired
