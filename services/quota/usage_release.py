"""Giving usage back (ReleaseUsage): lower used amounts once per request_id, never below zero."""

from __future__ import annotations

import hashlib

import asyncpg

from services.quota.errors import RequestIdReused
from services.quota.model import Unit, UsageItem, usage_period
from services.quota.reservations import _lock_usage


def _hash(subject: str, items: list[UsageItem]) -> str:
    parts = [subject, *sorted(f"{i.unit.value}:{i.amount}" for i in items)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def release_usage(
    pool: asyncpg.Pool,
    service: str,
    request_id: str,
    subject: str,
    items: list[UsageItem],
    month: str,
) -> dict[Unit, int]:
    """Lower `subject`'s usage by `items`; what was given back (a retry answers the same)."""
    request_hash = _hash(subject, items)
    wanted: dict[Unit, int] = {}
    for item in items:
        wanted[item.unit] = wanted.get(item.unit, 0) + item.amount
    keys = sorted((unit, usage_period(unit, month)) for unit in wanted)
    async with pool.acquire() as conn, conn.transaction():
        # The usage rows' lock also serialises concurrent retries of one request_id.
        usage = await _lock_usage(conn, subject, keys)
        row = await conn.fetchrow(
            "SELECT request_hash, released FROM usage_releases"
            " WHERE service = $1 AND request_id = $2",
            service,
            request_id,
        )
        if row is not None:
            if row["request_hash"] != request_hash:
                raise RequestIdReused(request_id)
            return {Unit(unit): int(amount) for unit, amount in row["released"].items()}
        released: dict[Unit, int] = {}
        for unit, period in keys:
            used, _ = usage[(unit, period)]
            released[unit] = min(wanted[unit], used)
            await conn.execute(
                "UPDATE usage SET used = used - $4"
                " WHERE subject = $1 AND unit = $2 AND period = $3",
                subject,
                unit.value,
                period,
                released[unit],
            )
        await conn.execute(
            "INSERT INTO usage_releases (service, request_id, request_hash, subject, released,"
            " created_at) VALUES ($1, $2, $3, $4, $5, now())",
            service,
            request_id,
            request_hash,
            subject,
            {unit.value: amount for unit, amount in released.items()},
        )
        return released
