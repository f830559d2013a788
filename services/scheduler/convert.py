"""Conversions between the scheduler's values and its protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from services.scheduler.model import (
    Job,
    Kind,
    NewsItem,
    Position,
    QuietHours,
    Snapshot,
    Trigger,
    User,
)
from services.scheduler.store.outbox import Delivery
from services.scheduler.store.runs import RunView
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import convert

KIND_TO_PB, KIND_FROM_PB = convert.enum_pairs(Kind, pb.NotificationKind, "NOTIFICATION_KIND_")
_TRIGGER, _ = convert.enum_pairs(Trigger, pb.RunTrigger, "RUN_TRIGGER_")
DELIVERY_STATE_TO_PB = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "deferred": pb.DELIVERY_STATE_DEFERRED,
    "sent": pb.DELIVERY_STATE_SENT,
    "failed": pb.DELIVERY_STATE_FAILED,
    "suppressed": pb.DELIVERY_STATE_SUPPRESSED,
}
DELIVERY_STATE_FROM_PB = {v: k for k, v in DELIVERY_STATE_TO_PB.items()}
_CHANNEL = {"webhook": pb.CHANNEL_WEBHOOK, "email": pb.CHANNEL_EMAIL}
_SUMMARY_STORAGE = {
    "not_kept": pb.SUMMARY_STORAGE_NOT_KEPT,
    "not_configured": pb.SUMMARY_STORAGE_NOT_CONFIGURED,
    "pending": pb.SUMMARY_STORAGE_PENDING,
    "stored": pb.SUMMARY_STORAGE_STORED,
}


def timestamp(value: datetime | None) -> Timestamp | None:
    """An aware datetime as a Timestamp (None stays unset)."""
    return None if value is None else convert.timestamp(value)


def run(view: RunView) -> pb.Run:
    """A run with its counters."""
    if view.finished_at is None:
        state = pb.RUN_STATE_RUNNING
    else:
        state = pb.RUN_STATE_PARTIALLY_FAILED if view.failed else pb.RUN_STATE_SUCCEEDED
    return pb.Run(
        id=str(view.id),
        job_name=view.job,
        period=view.period,
        scheduled_for=timestamp(view.scheduled_for),
        trigger=_TRIGGER[view.trigger],
        state=state,
        users_total=view.total,
        users_done=view.done,
        users_skipped=view.skipped,
        users_failed=view.failed,
        users_retried=view.retried,
        degraded=view.degraded,
        max_concurrency_observed=view.max_concurrency,
        concurrency_limit=view.concurrency_limit,
        batch_size=view.batch_size,
        created_at=timestamp(view.created_at),
        finished_at=timestamp(view.finished_at),
        created_by=view.created_by,
    )


def job(value: Job, next_fire: datetime | None, last: RunView | None) -> pb.Job:
    """A job with its next fire time and last run."""
    return pb.Job(
        name=value.name,
        kind=KIND_TO_PB[value.kind],
        cron=value.cron,
        time_zone=value.time_zone,
        misfire_grace=Duration(seconds=int(value.misfire_grace.total_seconds())),
        paused=value.paused,
        next_fire_time=timestamp(next_fire),
        last_run=run(last) if last else None,
    )


def user_to_pb(user: User) -> pb.UserPreferences:
    """Stored preferences as a message."""
    quiet = user.quiet_hours
    return pb.UserPreferences(
        user_id=user.user_id,
        time_zone=user.time_zone,
        quiet_hours=pb.QuietHours(start_minute=quiet.start_minute, end_minute=quiet.end_minute)
        if quiet
        else None,
        enabled=sorted(KIND_TO_PB[k] for k in user.enabled),
        webhook_url=user.webhook_url,
        email=user.email,
        alert_threshold_bps=user.alert_threshold_bps,
        updated_at=timestamp(user.updated_at),
    )


def user_from_pb(prefs: pb.UserPreferences, default_threshold: int) -> User:
    """A validated message as preferences."""
    quiet = None
    if prefs.HasField("quiet_hours"):
        quiet = QuietHours(prefs.quiet_hours.start_minute, prefs.quiet_hours.end_minute)
    return User(
        prefs.user_id,
        prefs.time_zone,
        quiet,
        frozenset(KIND_FROM_PB[k] for k in prefs.enabled),
        prefs.webhook_url,
        prefs.email,
        prefs.alert_threshold_bps or default_threshold,
    )


def snapshot_from_pb(message: pb.PortfolioSnapshot) -> Snapshot:
    """A validated snapshot message."""
    return Snapshot(
        message.user_id,
        message.as_of.ToDatetime(UTC),
        message.cash_micro_usd,
        tuple(
            Position(p.symbol, p.quantity, p.price_micro_usd, p.previous_close_micro_usd)
            for p in message.positions
        ),
    )


def news_from_pb(item: pb.NewsItem) -> NewsItem:
    """A validated news message."""
    return NewsItem(
        item.id,
        tuple(item.symbols),
        item.headline,
        item.summary,
        item.url,
        item.published_at.ToDatetime(UTC),
    )


def delivery(value: Delivery) -> pb.Delivery:
    """A delivery record."""
    return pb.Delivery(
        id=value.id,
        user_id=value.user_id,
        job_name=value.job,
        kind=KIND_TO_PB[value.kind],
        channel=_CHANNEL[value.channel],
        state=DELIVERY_STATE_TO_PB[value.state],
        attempts=value.attempts,
        next_attempt_at=timestamp(value.next_attempt_at)
        if value.state in ("pending", "deferred")
        else None,
        delivered_at=timestamp(value.delivered_at),
        last_error=value.last_error,
        title=value.title,
        body=value.body,
        degraded=value.degraded,
        period=value.period_key,
        created_at=timestamp(value.created_at),
        summary_storage=_SUMMARY_STORAGE[value.summary_state],
        summary_object=pb.StoredObject(
            namespace=value.summary_namespace,
            name=value.summary_name,
            version=value.summary_version,
            root=value.summary_root,
        )
        if value.summary_name
        else None,
    )
