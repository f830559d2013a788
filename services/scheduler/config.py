"""The scheduler's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from services.scheduler.model import JobSpec, Kind
from services.scheduler.policy import default_allow
from services.scheduler.schedule import BadSchedule, check_cron, zone
from zerog_grpc.service import ServiceSettings
from zerog_grpc.settings import ConfigError, Env


@dataclass(frozen=True)
class SmtpSettings:
    """Where email goes; host '' disables the email channel."""

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    sender: str = "zerog@localhost"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Tuning:
    """How runs and deliveries are processed."""

    batch_size: int = 50
    concurrency_limit: int = 10
    lease_seconds: int = 300
    max_attempts: int = 5
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 900.0
    delivery_batch: int = 100
    delivery_concurrency: int = 20
    delivery_max_attempts: int = 6
    delivery_retry_base_seconds: float = 30.0
    delivery_retry_max_seconds: float = 3600.0
    webhook_timeout_seconds: float = 10.0
    default_alert_threshold_bps: int = 300
    market_open_minute: int = 9 * 60
    market_close_minute: int = 16 * 60


def _minute_of_day(env: Env, name: str, default: str) -> int:
    raw = env.text(name, default)
    hours, sep, minutes = raw.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ConfigError(f"{name} must be HH:MM, got {raw!r}")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise ConfigError(f"{name} must be HH:MM, got {raw!r}")
    return value


def _schedule(env: Env, name: str, default: str, check: Callable[[str], object]) -> str:
    """A cron expression or time zone setting that `check` accepts."""
    value = env.text(name, default)
    try:
        check(value)
    except BadSchedule as error:
        raise ConfigError(f"{name}: {error}") from None
    return value


def _services(env: Env, name: str, default: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in env.text(name, default).split(",") if part.strip())
    if not names:
        raise ConfigError(f"{name} must name at least one service")
    return names


# Each job: name (its env prefix in upper case), kind, default cron, misfire grace (seconds), and
# whether it runs in the exchange's zone ('' = each user's own).
_JOBS = (
    ("daily_digest", Kind.DAILY_DIGEST, "0 8 * * *", 86400, False),
    ("weekly_summary", Kind.WEEKLY_SUMMARY, "0 7 * * 1", 86400, False),
    ("performance_alerts", Kind.PERFORMANCE_ALERT, "0 9-16 * * 1-5", 1800, True),
)


def _jobs(env: Env, exchange: str) -> tuple[JobSpec, ...]:
    """The jobs; their crons and zones are the defaults a fresh database starts with."""
    return tuple(
        JobSpec(
            name,
            kind,
            _schedule(env, f"{name.upper()}_CRON", cron, check_cron),
            exchange if in_exchange_zone else "",
            timedelta(seconds=env.integer(f"{name.upper()}_MISFIRE_GRACE_SECONDS", grace, 1)),
        )
        for name, kind, cron, grace, in_exchange_zone in _JOBS
    )


def _tuning(env: Env) -> Tuning:
    return Tuning(
        batch_size=env.integer("SCHEDULER_BATCH_SIZE", 50, minimum=1, maximum=1000),
        concurrency_limit=env.integer("SCHEDULER_CONCURRENCY_LIMIT", 10, 1, 500),
        lease_seconds=env.integer("SCHEDULER_LEASE_SECONDS", 300, minimum=5),
        max_attempts=env.integer("SCHEDULER_MAX_ATTEMPTS", 5, minimum=1),
        retry_base_seconds=env.number("SCHEDULER_RETRY_BASE_SECONDS", 30.0, 0.001),
        retry_max_seconds=env.number("SCHEDULER_RETRY_MAX_SECONDS", 900.0, 0.001),
        delivery_batch=env.integer("DELIVERY_BATCH_SIZE", 100, minimum=1, maximum=5000),
        delivery_concurrency=env.integer("DELIVERY_CONCURRENCY", 20, 1, 500),
        delivery_max_attempts=env.integer("DELIVERY_MAX_ATTEMPTS", 6, minimum=1),
        delivery_retry_base_seconds=env.number("DELIVERY_RETRY_BASE_SECONDS", 30.0, 0.001),
        delivery_retry_max_seconds=env.number("DELIVERY_RETRY_MAX_SECONDS", 3600.0, 0.001),
        webhook_timeout_seconds=env.number("WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.1),
        default_alert_threshold_bps=env.integer("DEFAULT_ALERT_THRESHOLD_BPS", 300, 1),
        market_open_minute=_minute_of_day(env, "MARKET_OPEN", "09:00"),
        market_close_minute=_minute_of_day(env, "MARKET_CLOSE", "16:00"),
    )


def _smtp(env: Env) -> SmtpSettings:
    return SmtpSettings(
        host=_optional(env, "SMTP_HOST"),
        port=env.integer("SMTP_PORT", 25, minimum=1, maximum=65535),
        username=_optional(env, "SMTP_USERNAME"),
        password=env.secret("SMTP_PASSWORD", required=False),
        starttls=env.text("SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
        sender=env.text("SMTP_FROM", "zerog@localhost"),
        timeout_seconds=env.number("SMTP_TIMEOUT_SECONDS", 10.0, 0.1),
    )


def _optional(env: Env, name: str) -> str:
    """A text setting that may be unset or empty ('')."""
    return env.text(name, "") if env.values.get(name) else ""


@dataclass(frozen=True)
class Config(ServiceSettings):
    """Everything the scheduler reads from its environment."""

    jobs: tuple[JobSpec, ...] = ()
    poll_interval_seconds: float = 15.0
    exchange_time_zone: str = "America/New_York"
    inference_address: str = ""
    inference_model: str = ""
    inference_timeout_seconds: float = 30.0
    quota_address: str = ""
    quota_reconnect_base_seconds: float = 1.0
    quota_reconnect_max_seconds: float = 30.0
    # The storage service keeping summaries on 0G Storage; '' keeps none.
    storage_address: str = ""
    storage_timeout_seconds: float = 60.0
    host_services: tuple[str, ...] = ("app",)
    tuning: Tuning = field(default_factory=Tuning)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = Env(environ)
        inference = env.values.get("INFERENCE_ADDRESS", "")
        quota = env.values.get("QUOTA_ADDRESS", "")
        storage = env.values.get("STORAGE_ADDRESS", "")
        hosts = _services(env, "SCHEDULER_HOST_SERVICES", "app")
        exchange = _schedule(env, "EXCHANGE_TIME_ZONE", "America/New_York", zone)
        return cls(
            **ServiceSettings.read(
                env,
                audience="scheduler",
                allow=default_allow(hosts),
                port=50055,
                db_pool_size=20,
                # Calling inference, quota and storage needs the scheduler's own signing key.
                signs=bool(inference or quota or storage),
            ),
            jobs=_jobs(env, exchange),
            poll_interval_seconds=env.number("POLL_INTERVAL_SECONDS", 15.0, minimum=0.01),
            exchange_time_zone=exchange,
            inference_address=inference,
            inference_model=_optional(env, "INFERENCE_MODEL"),
            inference_timeout_seconds=env.number("INFERENCE_TIMEOUT_SECONDS", 30.0, 0.1),
            quota_address=quota,
            quota_reconnect_base_seconds=env.number("QUOTA_RECONNECT_BASE_SECONDS", 1.0, 0.001),
            quota_reconnect_max_seconds=env.number("QUOTA_RECONNECT_MAX_SECONDS", 30.0, 0.001),
            storage_address=storage,
            storage_timeout_seconds=env.number("STORAGE_TIMEOUT_SECONDS", 60.0, 0.1),
            host_services=hosts,
            tuning=_tuning(env),
            smtp=_smtp(env),
        )
