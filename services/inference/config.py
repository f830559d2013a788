"""Inference's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import ANY_SERVICE, ServiceSettings
from zerog_grpc.settings import ConfigError, Env

# Every authenticated internal service may chat; AUTH_ALLOW narrows a method to named callers.
DEFAULT_ALLOW: dict[str, frozenset[str]] = {
    method.name: frozenset({ANY_SERVICE})
    for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}
# The HTTP endpoint's keys mint budget access for any subject: operators only.
ADMIN_ONLY = ("CreateApiKey", "RevokeApiKey", "ListApiKeys")
DEFAULT_ALLOW.update(dict.fromkeys(ADMIN_ONLY, frozenset({"admin"})))


@dataclass(frozen=True)
class Config(ServiceSettings):
    """Everything inference reads from its environment."""

    quota_address: str = ""
    broker_address: str = ""
    storage_address: str = ""
    retry_attempts: int = 3
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 30.0
    attempt_timeout_seconds: float = 60.0
    breaker_fail_max: int = 5
    breaker_failure_ratio: float = 0.6
    breaker_min_calls: int = 3
    breaker_cool_down_seconds: float = 30.0
    dependency_timeout_seconds: float = 10.0
    provider_cache_seconds: float = 10.0
    reservation_ttl_seconds: int = 300
    request_lease_seconds: float = 0.0
    """How long a request_id claim lasts before another call may take it over (its owner is
    presumed dead); 0 means derived from the provider timeout and attempts (lease())."""
    request_retry_after_seconds: float = 1.0
    settle_batch_size: int = 200
    settle_poll_seconds: float = 1.0
    settle_linger_seconds: float = 0.5
    """How long a woken settler gathers answers before its batch (settler.py)."""
    settle_retry_base_seconds: float = 0.5
    settle_retry_cap_seconds: float = 30.0
    credential_refresh_seconds: float = 2.0
    """How often a provider's held credentials are asked for again while it is in use: a
    revoke-all reaches this replica within that (at most 4 s, so within the promised 5)."""
    verify_sweep_seconds: float = 5.0
    """How often a replica looks for answers whose TEE check is overdue (after a crash)."""
    verify_grace_seconds: float = 30.0
    """How long the replica that gave an answer has to check it before any replica may."""
    lease_tokens: int = 100_000
    """Tokens of a subject's budget each replica leases at a time (quota grants at most a
    quarter of what is left); 0 reserves at quota for every call."""
    lease_ttl_seconds: float = 300.0
    lease_idle_seconds: float = 30.0
    lease_wait_seconds: float = 10.0
    # The balance a wallet user needs before AnalyzeDream asks a model, neuron (0.001 A0GI).
    dream_min_balance_neuron: int = 10**15
    http_port: int = 8080
    """The OpenAI-compatible HTTP endpoint's port (openai_http); 0 turns it off."""
    rate_permits: int = 20
    """Rate permits of a subject asked from quota at a time (quota grants one at a time when a
    limit has little left); 0 turns rate limits off."""
    rate_hold_seconds: float = 5.0
    """How long a replica may use permits it holds before it gives the rest back."""

    def lease(self) -> float:
        """The claim lease: as set, else twice the longest one chat call may run (every attempt
        timing out after the longest backoff; 9 minutes with the defaults), at least 5 minutes."""
        if self.request_lease_seconds:
            return self.request_lease_seconds
        longest = self.retry_attempts * (self.attempt_timeout_seconds + self.retry_cap_seconds)
        return max(300.0, 2 * longest)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = Env(environ)
        ratio = env.number("BREAKER_FAILURE_RATIO", 0.6)
        if not 0 < ratio <= 1:
            raise ConfigError("BREAKER_FAILURE_RATIO: must be in (0, 1]")
        return cls(
            **ServiceSettings.read(
                env,
                audience="inference",
                allow=DEFAULT_ALLOW,
                port=50053,
                metrics_port=9466,
                db_pool_size=10,
                signs=True,
            ),
            quota_address=env.text("QUOTA_ADDRESS"),
            broker_address=env.text("BROKER_ADDRESS"),
            storage_address=env.text("STORAGE_ADDRESS", ""),
            retry_attempts=env.integer("RETRY_ATTEMPTS", 3, minimum=1, maximum=10),
            retry_base_seconds=env.number("RETRY_BASE_SECONDS", 1.0),
            retry_cap_seconds=env.number("RETRY_CAP_SECONDS", 30.0),
            attempt_timeout_seconds=env.number("PROVIDER_TIMEOUT_SECONDS", 60.0, minimum=0.01),
            breaker_fail_max=env.integer("BREAKER_FAIL_MAX", 5, minimum=1),
            breaker_failure_ratio=ratio,
            breaker_min_calls=env.integer("BREAKER_MIN_CALLS", 3, minimum=1),
            breaker_cool_down_seconds=env.number("BREAKER_COOL_DOWN_SECONDS", 30.0),
            dependency_timeout_seconds=env.number("DEPENDENCY_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            provider_cache_seconds=env.number("PROVIDER_CACHE_SECONDS", 10.0),
            reservation_ttl_seconds=env.integer("RESERVATION_TTL_SECONDS", 300, minimum=1),
            request_lease_seconds=env.number("REQUEST_LEASE_SECONDS", 0.0),
            request_retry_after_seconds=env.number("REQUEST_RETRY_AFTER_SECONDS", 1.0),
            settle_batch_size=env.integer("SETTLE_BATCH_SIZE", 200, minimum=1, maximum=500),
            settle_poll_seconds=env.number("SETTLE_POLL_SECONDS", 1.0, minimum=0.01),
            settle_linger_seconds=env.number("SETTLE_LINGER_SECONDS", 0.5, minimum=0.0),
            settle_retry_base_seconds=env.number("SETTLE_RETRY_BASE_SECONDS", 0.5, minimum=0.01),
            settle_retry_cap_seconds=env.number("SETTLE_RETRY_CAP_SECONDS", 30.0, minimum=0.01),
            credential_refresh_seconds=env.number(
                "CREDENTIAL_REFRESH_SECONDS", 2.0, minimum=0.1, maximum=4.0
            ),
            verify_sweep_seconds=env.number("VERIFY_SWEEP_SECONDS", 5.0, minimum=0.01),
            verify_grace_seconds=env.number("VERIFY_GRACE_SECONDS", 30.0, minimum=0.0),
            lease_tokens=env.integer("LEASE_TOKENS", 100_000, minimum=0),
            lease_ttl_seconds=env.number("LEASE_TTL_SECONDS", 300.0, minimum=1.0),
            lease_idle_seconds=env.number("LEASE_IDLE_SECONDS", 30.0, minimum=0.01),
            lease_wait_seconds=env.number("LEASE_WAIT_SECONDS", 10.0, minimum=0.0),
            dream_min_balance_neuron=env.integer("DREAM_MIN_BALANCE_NEURON", 10**15, minimum=1),
            http_port=env.integer("HTTP_PORT", 8080, maximum=65535),
            rate_permits=env.integer("RATE_PERMITS", 20, minimum=0),
            rate_hold_seconds=env.number("RATE_HOLD_SECONDS", 5.0, minimum=0.1, maximum=60.0),
        )
