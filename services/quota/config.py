"""Quota's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.quota.model import RateRule
from services.quota.policy import DEFAULT_ALLOW
from zerog_grpc import ServiceSettings
from zerog_grpc.settings import ConfigError, Env


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
class Config(ServiceSettings):
    """Everything quota reads from its environment: the common settings and its own."""

    default_tier: str = "free"
    rate_limits: tuple[RateRule, ...] = ()
    default_ttl_seconds: int = 60
    max_ttl_seconds: int = 3600
    sweep_interval_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = Env(environ)
        return cls(
            **ServiceSettings.read(env, audience="quota", allow=DEFAULT_ALLOW, port=50051),
            default_tier=env.text("DEFAULT_TIER", "free"),
            rate_limits=_parse_rate_limits(env.text("RATE_LIMITS", "10/60,100/86400")),
            default_ttl_seconds=env.integer("RESERVATION_TTL_SECONDS", 60, minimum=1),
            max_ttl_seconds=env.integer("RESERVATION_MAX_TTL_SECONDS", 3600, minimum=1),
            sweep_interval_seconds=env.number("SWEEP_INTERVAL_SECONDS", 5.0, minimum=0.1),
        )
