"""SQL for tiers, subjects' limits, the price table and a subject's standing."""

from __future__ import annotations

import asyncpg

from services.quota.errors import TierNotFound
from services.quota.model import (
    METERED_UNITS,
    Limits,
    Price,
    QuotaView,
    Unit,
    UnitUsage,
    usage_period,
)
from zerog_db import Executor


def _limits(row: asyncpg.Record) -> Limits:
    return Limits(row["storage_bytes"], row["compute_tokens"], row["cost_micro_usd"])


async def limits_of(db: Executor, subject: str, default_tier: str) -> tuple[str, Limits]:
    """A subject's tier and effective limits (custom overrides over the tier's defaults)."""
    row = await db.fetchrow(
        """
        SELECT t.name AS tier,
               coalesce(s.storage_bytes, t.storage_bytes) AS storage_bytes,
               coalesce(s.compute_tokens, t.compute_tokens) AS compute_tokens,
               coalesce(s.cost_micro_usd, t.cost_micro_usd) AS cost_micro_usd
        FROM tiers t LEFT JOIN subjects s ON s.subject = $1 AND s.tier = t.name
        WHERE t.name = coalesce((SELECT tier FROM subjects WHERE subject = $1), $2)
        """,
        subject,
        default_tier,
    )
    if row is None:
        raise TierNotFound(default_tier)
    return row["tier"], _limits(row)


async def quota_view(db: Executor, subject: str, default_tier: str, month: str) -> QuotaView:
    """A subject's limits, usage and reservations in `month`."""
    tier, limits = await limits_of(db, subject, default_tier)
    rows = await db.fetch(
        "SELECT unit, used, reserved FROM usage WHERE subject = $1 AND period = ANY($2::text[])",
        subject,
        ["all", month],
    )
    found = {Unit(r["unit"]): (r["used"], r["reserved"]) for r in rows}
    usages = [
        UnitUsage(unit, limits.of(unit), *found.get(unit, (0, 0)))
        for unit in (*METERED_UNITS, Unit.COST_MICRO_USD)
    ]
    return QuotaView(subject, tier, month, usages)


async def set_subject_tier(
    pool: asyncpg.Pool, subject: str, tier: str, custom: Limits | None
) -> None:
    """Put a subject on a tier; custom limits apply on the custom tier only."""
    custom = custom if tier == "custom" and custom is not None else Limits()
    try:
        await pool.execute(
            """
            INSERT INTO subjects (subject, tier, storage_bytes, compute_tokens, cost_micro_usd)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (subject) DO UPDATE SET tier = $2, storage_bytes = $3,
                compute_tokens = $4, cost_micro_usd = $5, updated_at = now()
            """,
            subject,
            tier,
            custom.storage_bytes,
            custom.compute_tokens,
            custom.cost_micro_usd,
        )
    except asyncpg.ForeignKeyViolationError:
        raise TierNotFound(tier) from None


async def list_tiers(pool: asyncpg.Pool) -> list[tuple[str, Limits]]:
    """Every tier and its default limits."""
    rows = await pool.fetch("SELECT * FROM tiers ORDER BY name")
    return [(r["name"], _limits(r)) for r in rows]


async def set_tier_limits(pool: asyncpg.Pool, tier: str, limits: Limits) -> None:
    """Change a tier's default limits."""
    done = await pool.execute(
        "UPDATE tiers SET storage_bytes = $2, compute_tokens = $3, cost_micro_usd = $4"
        " WHERE name = $1",
        tier,
        limits.storage_bytes,
        limits.compute_tokens,
        limits.cost_micro_usd,
    )
    if done == "UPDATE 0":
        raise TierNotFound(tier)


async def prices_for(db: Executor, wanted: set[tuple[Unit, str]]) -> dict[tuple[Unit, str], Price]:
    """The price of each (unit, price_key), falling back to the unit's default price."""
    rows = await db.fetch(
        "SELECT unit, price_key, micro_usd, per_amount FROM prices WHERE unit = ANY($1::text[])",
        sorted({unit.value for unit, _ in wanted}),
    )
    table = {(Unit(r["unit"]), r["price_key"]): r for r in rows}
    prices = {}
    for unit, key in wanted:
        row = table.get((unit, key)) or table.get((unit, ""))
        # A unit without even a default price is free: nothing in the table says otherwise.
        prices[(unit, key)] = (
            Price(unit, key, row["micro_usd"], row["per_amount"])
            if row is not None
            else Price(unit, key, 0, 1)
        )
    return prices


async def set_price(pool: asyncpg.Pool, price: Price) -> None:
    """Store one price."""
    await pool.execute(
        """
        INSERT INTO prices (unit, price_key, micro_usd, per_amount) VALUES ($1, $2, $3, $4)
        ON CONFLICT (unit, price_key) DO UPDATE SET micro_usd = $3, per_amount = $4
        """,
        price.unit.value,
        price.price_key,
        price.micro_usd,
        price.per_amount,
    )


async def list_prices(pool: asyncpg.Pool) -> list[Price]:
    """The whole price table."""
    rows = await pool.fetch("SELECT * FROM prices ORDER BY unit, price_key")
    return [Price(Unit(r["unit"]), r["price_key"], r["micro_usd"], r["per_amount"]) for r in rows]


async def usage_near_limits(
    db: Executor, default_tier: str, month: str, percent: int
) -> dict[Unit, tuple[int, int]]:
    """Per unit, over every subject this month: the highest share of its limit used (whole
    percent) and how many subjects used at least `percent` of theirs. Units without a limited
    subject in use are absent."""
    rows = await db.fetch(
        """
        SELECT u.unit, max(u.used * 100 / l.lim) AS top,
               count(*) FILTER (WHERE u.used * 100 >= l.lim * $3) AS near
        FROM usage u
        LEFT JOIN subjects s ON s.subject = u.subject
        JOIN tiers t ON t.name = coalesce(s.tier, $1)
        CROSS JOIN LATERAL (SELECT CASE u.unit
            WHEN 'storage_bytes' THEN coalesce(s.storage_bytes, t.storage_bytes)
            WHEN 'compute_tokens' THEN coalesce(s.compute_tokens, t.compute_tokens)
            WHEN 'cost_micro_usd' THEN coalesce(s.cost_micro_usd, t.cost_micro_usd)
        END AS lim) l
        WHERE l.lim > 0 AND u.period = ANY($2::text[])
        GROUP BY u.unit
        """,
        default_tier,
        sorted({usage_period(unit, month) for unit in Unit}),
        percent,
    )
    return {Unit(r["unit"]): (int(r["top"]), int(r["near"])) for r in rows}
