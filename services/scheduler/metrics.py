"""Prometheus metrics with the names the seed uses (notification_scheduler_*)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SchedulerMetrics:
    """The scheduler's counters, histogram and gauges in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.jobs_executed = Counter(
            "notification_scheduler_jobs_executed_total",
            "Runs started, by job",
            ["job_type"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "notification_scheduler_job_duration_seconds",
            "Seconds from a run's creation to its last user, by job",
            ["job_type"],
            registry=registry,
        )
        self.users_processed = Counter(
            "notification_scheduler_users_processed_total",
            "Users processed (done, skipped or failed), by job",
            ["job_type"],
            registry=registry,
        )
        self.notifications_sent = Counter(
            "notification_scheduler_notifications_sent_total",
            "Deliveries accepted by a channel",
            ["type", "channel"],
            registry=registry,
        )
        self.job_failures = Counter(
            "notification_scheduler_job_failures_total",
            "Users that failed a run after every retry, by job",
            ["job_type"],
            registry=registry,
        )
        self.user_retries = Counter(
            "notification_scheduler_user_retries_total",
            "Users put back for a retry after a failure, by job",
            ["job_type"],
            registry=registry,
        )
        self.degraded = Counter(
            "notification_scheduler_degraded_notifications_total",
            "Notifications sent with figures only because inference failed",
            ["type"],
            registry=registry,
        )
        self.delivery_failures = Counter(
            "notification_scheduler_delivery_attempt_failures_total",
            "Failed delivery attempts",
            ["channel"],
            registry=registry,
        )
        self.deferred = Counter(
            "notification_scheduler_deliveries_deferred_total",
            "Deliveries held back by quiet hours",
            ["channel"],
            registry=registry,
        )
        self.concurrency = Gauge(
            "notification_scheduler_concurrency",
            "Users being processed right now on this replica",
            registry=registry,
        )
        self.max_concurrency = Gauge(
            "notification_scheduler_max_concurrency_observed",
            "Highest number of users processed at once on this replica since start",
            registry=registry,
        )
