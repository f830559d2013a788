"""Building users and snapshots for scheduler tests, through the RPCs or in bulk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from services.scheduler.model import Kind, User
from services.scheduler.store import users
from tests.scheduler.conftest import Scheduler
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

DIGEST = pb.NOTIFICATION_KIND_DAILY_DIGEST
ALERT = pb.NOTIFICATION_KIND_PERFORMANCE_ALERT


def stamp(when: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(when.astimezone(UTC))
    return value


async def add_user(
    scheduler: Scheduler,
    user_id: str,
    time_zone: str,
    webhook_url: str = "",
    email: str = "",
    enabled: Sequence[pb.NotificationKind.ValueType] = (DIGEST,),
    quiet: tuple[int, int] | None = None,
    threshold_bps: int = 0,
) -> pb.UserPreferences:
    prefs = pb.UserPreferences(
        user_id=user_id,
        time_zone=time_zone,
        enabled=list(enabled),
        webhook_url=webhook_url,
        email=email,
        alert_threshold_bps=threshold_bps,
        quiet_hours=pb.QuietHours(start_minute=quiet[0], end_minute=quiet[1]) if quiet else None,
    )
    response = await scheduler.stub.SetUserPreferences(
        pb.SetUserPreferencesRequest(
            # Each change is a new request; one request_id for two would be refused as reused.
            request_id=f"set-{user_id}-{uuid.uuid4().hex[:8]}",
            preferences=prefs,
        ),
        metadata=scheduler.as_service(),
    )
    return response.preferences


async def push_snapshot(
    scheduler: Scheduler,
    user_id: str,
    as_of: datetime,
    positions: Sequence[tuple[str, str, int, int]],
    cash: int = 0,
) -> pb.PushPortfolioSnapshotResponse:
    snapshot = pb.PortfolioSnapshot(
        user_id=user_id,
        as_of=stamp(as_of),
        cash_micro_usd=cash,
        positions=[
            pb.Position(symbol=s, quantity=q, price_micro_usd=p, previous_close_micro_usd=c)
            for s, q, p, c in positions
        ],
    )
    return await scheduler.stub.PushPortfolioSnapshot(
        pb.PushPortfolioSnapshotRequest(
            request_id=f"snap-{user_id}-{as_of.isoformat()}", snapshot=snapshot
        ),
        metadata=scheduler.as_service(),
    )


async def bulk_users(
    pool: asyncpg.Pool, count: int, time_zone: str, webhook_url: str, now: datetime
) -> list[str]:
    """`count` digest users with one snapshot each, written straight to the tables (fast)."""
    ids = [f"user-{i:05d}" for i in range(count)]
    await users.set_users(
        pool,
        [
            User(
                uid,
                time_zone,
                None,
                frozenset({Kind.DAILY_DIGEST}),
                f"{webhook_url}/{uid}",
                "",
                300,
            )
            for uid in ids
        ],
        now,
    )
    position = {
        "symbol": "ACME",
        "quantity": "10",
        "price_micro_usd": 101_000_000,
        "previous_close_micro_usd": 100_000_000,
    }
    await pool.executemany(
        "INSERT INTO snapshots (user_id, request_id, as_of, cash_micro_usd, positions)"
        " VALUES ($1, 'seed', $2, 5000000, $3)",
        [(uid, now, [position]) for uid in ids],
    )
    return ids
