"""Quota's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.quota.model import RateRule
from services.quota.policy import DEFAULT_ALLOW
from zerog_grpc.settings import AuthSettings, ConfigError, Env, parse_allow


def _parse_rate_limits(raw: str) -> tuple[RateRule, ...]:
    """ "10/60,100/86400" -> 10 calls per 60 s and 100 per day."""
    rules = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        count, sep, seconds = part.partition("/")
        if not sep or not count.isdigit() or not seconds.isdigit() or int(seconds) <= 0:
            raise ConfigError(f"RATE_LIMITS: expected COUNT/SECONDS[,...], got {part!r}")
        rules.append(RateRule("*", int(seconds), int(count)))
    return tuple(rules)


@dataclass(frozen=True)
class Config:
    """Everything quota reads from its environment."""

    database_url: str = field(repr=False)
    auth: AuthSettings
    allow: Mapping[str, frozenset[str]]
    port: int = 50051
    metrics_port: int = 9464
    db_pool_size: int = 20
    shutdown_grace_seconds: float = 20.0
    shutdown_delay_seconds: float = 0.0
    log_level: str = "INFO"
    default_tier: str = "free"
    rate_limits: tuple[RateRule, ...] = ()
    default_ttl_seconds: int = 60
    max_ttl_seconds: int = 3600
    sweep_interval_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = Env(environ)
        return cls(
            database_url=env.secret("DATABASE_URL"),
            auth=AuthSettings.from_env(env, audience="quota"),
            allow={**DEFAULT_ALLOW, **parse_allow(env.text("AUTH_ALLOW", ""))},
            port=env.integer("PORT", 50051, maximum=65535),
            metrics_port=env.integer("METRICS_PORT", 9464, maximum=65535),
            db_pool_size=env.integer("DB_POOL_SIZE", 20, minimum=2),
            shutdown_grace_seconds=env.number("SHUTDOWN_GRACE_SECONDS", 20.0),
            shutdown_delay_seconds=env.number("SHUTDOWN_DELAY_SECONDS", 0.0),
            log_level=env.text("LOG_LEVEL", "INFO").upper(),
            default_tier=env.text("DEFAULT_TIER", "free"),
            rate_limits=_parse_rate_limits(env.text("RATE_LIMITS", "10/60,100/86400")),
            default_ttl_seconds=env.integer("RESERVATION_TTL_SECONDS", 60, minimum=1),
            max_ttl_seconds=env.integer("RESERVATION_MAX_TTL_SECONDS", 3600, minimum=1),
            sweep_interval_seconds=env.number("SWEEP_INTERVAL_SECONDS", 5.0, minimum=0.1),
        )
