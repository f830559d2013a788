"""Prometheus metrics with the names the seed uses (notification_scheduler_*)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_JOB = ("job_type",)
_CHANNEL = ("channel",)
# attribute: (kind, name after notification_scheduler_, help, labels)
_METRICS: dict[str, tuple[type[Counter | Gauge | Histogram], str, str, tuple[str, ...]]] = {
    "jobs_executed": (Counter, "jobs_executed_total", "Runs started, by job", _JOB),
    "job_duration": (
        Histogram,
        "job_duration_seconds",
        "Seconds from a run's creation to its last user, by job",
        _JOB,
    ),
    "users_processed": (
        Counter,
        "users_processed_total",
        "Users processed (done, skipped or failed), by job",
        _JOB,
    ),
    "notifications_sent": (
        Counter,
        "notifications_sent_total",
        "Deliveries accepted by a channel",
        ("type", "channel"),
    ),
    "job_failures": (
        Counter,
        "job_failures_total",
        "Users that failed a run after every retry, by job",
        _JOB,
    ),
    "user_retries": (
        Counter,
        "user_retries_total",
        "Users put back for a retry after a failure, by job",
        _JOB,
    ),
    "degraded": (
        Counter,
        "degraded_notifications_total",
        "Notifications sent with figures only because inference failed",
        ("type",),
    ),
    "delivery_failures": (
        Counter,
        "delivery_attempt_failures_total",
        "Failed delivery attempts",
        _CHANNEL,
    ),
    "deferred": (
        Counter,
        "deliveries_deferred_total",
        "Deliveries held back by quiet hours",
        _CHANNEL,
    ),
    "summaries_stored": (
        Counter,
        "summaries_stored_total",
        "Summaries stored on 0G Storage (ai-summaries namespace)",
        (),
    ),
    "summary_store_failures": (
        Counter,
        "summary_store_failures_total",
        "Failed attempts at storing a summary (retried later), by gRPC status",
        ("code",),
    ),
    "concurrency": (
        Gauge,
        "concurrency",
        "Users being processed right now on this replica",
        (),
    ),
    "max_concurrency": (
        Gauge,
        "max_concurrency_observed",
        "Highest number of users processed at once on this replica since start",
        (),
    ),
}


class SchedulerMetrics:
    """The scheduler's counters, histogram and gauges in one registry."""

    jobs_executed: Counter
    job_duration: Histogram
    users_processed: Counter
    notifications_sent: Counter
    job_failures: Counter
    user_retries: Counter
    degraded: Counter
    delivery_failures: Counter
    deferred: Counter
    summaries_stored: Counter
    summary_store_failures: Counter
    concurrency: Gauge
    max_concurrency: Gauge

    def __init__(self, registry: CollectorRegistry) -> None:
        for attribute, (kind, name, documentation, labels) in _METRICS.items():
            metric = kind(
                f"notification_scheduler_{name}", documentation, labels, registry=registry
            )
            setattr(self, attribute, metric)
