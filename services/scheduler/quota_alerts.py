"""Quota alerts as notifications: stored once by quota's alert id, then queued in the outbox."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.scheduler.figures import usd
from services.scheduler.model import Kind, QuotaAlert, User
from services.scheduler.store import quota_alerts as stored
from services.scheduler.store import users

_UNITS = {
    "storage_bytes": ("storage", "bytes of storage"),
    "compute_tokens": ("monthly compute tokens", "compute tokens"),
    "cost_micro_usd": ("monthly spending limit", ""),
}


def describe(alert: QuotaAlert) -> tuple[str, str]:
    """The title and body: the exact figures, identical on every channel."""
    what, counted = _UNITS.get(alert.unit, (alert.unit, alert.unit))
    percent = alert.used * 100 // alert.limit if alert.limit else 100
    if alert.level == "critical":
        title = f"Quota reached: you have used all of your {what}"
        after = "Further requests are refused until the limit is raised or the period ends."
    else:
        title = f"Quota warning: {percent}% of your {what} used"
        after = "At 100% further requests are refused."
    if alert.unit == "cost_micro_usd":
        amount = f"{usd(alert.used)} of {usd(alert.limit)}"
    else:
        amount = f"{alert.used:,} of {alert.limit:,} {counted}"
    body = f"You have used {amount} ({percent}%) in {alert.period}.\n{after}"
    return title, body


def _outcome(alert: QuotaAlert, user: User | None) -> tuple[str, tuple[str, ...]]:
    if not alert.user_id:
        return "not a user subject", ()
    if user is None:
        return "unknown user", ()
    if Kind.QUOTA_ALERT not in user.enabled:
        return "notification disabled", ()
    channels = tuple(
        name for name, target in (("webhook", user.webhook_url), ("email", user.email)) if target
    )
    return ("notified", channels) if channels else ("no channel", ())


async def record(pool: asyncpg.Pool, alert: QuotaAlert, now: datetime) -> str | None:
    """Store the alert and, if the user wants it, its notification and deliveries, atomically.

    Returns the outcome ('notified' or why not), or None when a replica stored it already.
    """
    async with pool.acquire() as conn, conn.transaction():
        if not await stored.insert(conn, alert, now):
            return None
        found = await users.users_by_id(conn, [alert.user_id]) if alert.user_id else {}
        outcome, channels = _outcome(alert, found.get(alert.user_id))
        await stored.set_outcome(conn, alert.alert_id, outcome)
        if channels:
            await stored.notify(conn, alert, describe(alert), channels, now)
    return outcome
