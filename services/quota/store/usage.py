"""SQL of a subject's usage rows: locking them in the one order, adjusting them, giving back.

Locking order, everywhere: a subject's usage rows first (sorted by unit and period), then the
reservation row. Concurrent writers for one subject queue on its usage rows, which is what
makes a budget impossible to overspend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from services.quota.model import PricedItem, Unit, UsageItem, totals, usage_period
from zerog_db import Connection

UsageKey = tuple[Unit, str]


def keys(items: Iterable[PricedItem], month: str) -> list[UsageKey]:
    """The usage rows `items` draw on, in locking order."""
    return sorted((unit, usage_period(unit, month)) for unit in totals(list(items)))


async def lock_usage(
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


async def add_usage(
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


def release_fingerprint(subject: str, items: list[UsageItem]) -> str:
    """What a ReleaseUsage asks for, as migration 002 stored it (so 005 could carry it over)."""
    parts = [subject, *sorted(f"{i.unit.value}:{i.amount}" for i in items)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def release_usage(
    conn: Connection, subject: str, items: list[UsageItem], month: str
) -> dict[Unit, int]:
    """Lower `subject`'s usage by `items`, never below zero; what was given back."""
    wanted: dict[Unit, int] = {}
    for item in items:
        wanted[item.unit] = wanted.get(item.unit, 0) + item.amount
    released: dict[Unit, int] = {}
    keys = sorted((unit, usage_period(unit, month)) for unit in wanted)
    for (unit, period), (used, _) in sorted((await lock_usage(conn, subject, keys)).items()):
        released[unit] = min(wanted[unit], used)
        await conn.execute(
            "UPDATE usage SET used = used - $4 WHERE subject = $1 AND unit = $2 AND period = $3",
            subject,
            unit.value,
            period,
            released[unit],
        )
    return released
