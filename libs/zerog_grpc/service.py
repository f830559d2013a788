"""`run_service`: what every `python -m services.<svc>` does, written once.

    # services/quota/__main__.py
    run_service("quota", Config.from_env, server.start, MIGRATIONS)

`serve` (the default) reads the config, sets up JSON logs and tracing, migrates (unless
MIGRATE_ON_START=false: a Kubernetes Job did), serves metrics, opens the pool, starts the
server, waits for SIGTERM, reports NOT_SERVING for SHUTDOWN_DELAY_SECONDS, drains for
SHUTDOWN_GRACE_SECONDS and closes the pool. `migrate` needs only DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg
from prometheus_client import CollectorRegistry

from zerog_db import create_pool, migrate, wait_for_database
from zerog_grpc.jsonlog import setup_logging
from zerog_grpc.migrate_command import run_migrate_command
from zerog_grpc.server import start_metrics_server, wait_for_signal
from zerog_grpc.settings import AuthSettings, ConfigError, Env, parse_allow
from zerog_grpc.tracing import setup_tracing


@dataclass(frozen=True)
class ServiceSettings:
    """The settings every service reads; a service's Config extends it with its own."""

    database_url: str = field(repr=False)
    auth: AuthSettings
    allow: Mapping[str, frozenset[str]]
    port: int = 50051
    metrics_port: int = 9464
    db_pool_size: int = 20
    shutdown_grace_seconds: float = 20.0
    shutdown_delay_seconds: float = 0.0
    migrate_on_start: bool = True
    log_level: str = "INFO"

    @staticmethod
    def read(
        env: Env,
        *,
        audience: str,
        allow: Mapping[str, frozenset[str]],
        port: int,
        metrics_port: int = 9464,
        db_pool_size: int = 20,
        signs: bool = False,
    ) -> dict[str, Any]:
        """The common settings from `env` as keyword arguments, with this service's defaults;
        `signs`: the service calls others, so it needs its own signing key."""
        return {
            "database_url": env.secret("DATABASE_URL"),
            "auth": AuthSettings.from_env(env, audience=audience, signs=signs),
            "allow": {**allow, **parse_allow(env.text("AUTH_ALLOW", ""))},
            "port": env.integer("PORT", port, maximum=65535),
            "metrics_port": env.integer("METRICS_PORT", metrics_port, maximum=65535),
            "db_pool_size": env.integer("DB_POOL_SIZE", db_pool_size, minimum=2),
            "shutdown_grace_seconds": env.number("SHUTDOWN_GRACE_SECONDS", 20.0),
            "shutdown_delay_seconds": env.number("SHUTDOWN_DELAY_SECONDS", 0.0),
            "migrate_on_start": env.flag("MIGRATE_ON_START", True),
            "log_level": env.text("LOG_LEVEL", "INFO").upper(),
        }


class Running(Protocol):
    """What a service's `server.start` returns."""

    @property
    def port(self) -> int: ...

    async def stop(self, grace: float | None, delay: float = 0.0) -> None: ...


C = TypeVar("C", bound=ServiceSettings)
Start = Callable[[asyncpg.Pool, C, str, CollectorRegistry], Awaitable[Running]]
log = logging.getLogger(__name__)


def run_service(
    name: str,
    config: Callable[[], C],
    start: Start[C],
    migrations: Path,
    *,
    startup_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Run `python -m services.<name> [serve|migrate]`; exits with a one-line reason on a
    configuration error or one of `startup_errors` (a chain that cannot be reached)."""
    match sys.argv[1:]:
        case ["migrate"]:
            run_migrate_command(name, name, migrations)
        case [] | ["serve"]:
            try:
                settings = config()
            except ConfigError as error:
                sys.exit(f"{name}: configuration error: {error}")
            setup_logging(name, settings.log_level)
            try:
                setup_tracing(name)
            except ConfigError as error:
                sys.exit(f"{name}: configuration error: {error}")
            try:
                asyncio.run(_serve(name, settings, start, migrations))
            except startup_errors as error:
                sys.exit(f"{name}: cannot start: {error}")
        case _:
            sys.exit(f"usage: python -m services.{name} [serve|migrate]")


async def _serve(name: str, settings: C, start: Start[C], migrations: Path) -> None:
    await wait_for_database(settings.database_url)
    if settings.migrate_on_start:
        applied = await migrate(settings.database_url, name, migrations)
        log.info("migrations applied", extra={"count": applied})
    registry = CollectorRegistry()
    start_metrics_server(settings.metrics_port, registry)
    pool = await create_pool(
        settings.database_url, max_size=settings.db_pool_size, search_path=name
    )
    try:
        running = await start(pool, settings, f"[::]:{settings.port}", registry)
        log.info(f"{name} serving", extra={"port": running.port})
        await wait_for_signal()
        await running.stop(settings.shutdown_grace_seconds, settings.shutdown_delay_seconds)
    finally:
        await pool.close()
    log.info(f"{name} stopped")
