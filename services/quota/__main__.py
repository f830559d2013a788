"""python -m services.quota [serve|migrate]: the quota service's only composition root."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.quota import server
from services.quota.config import Config
from zerog_db import create_pool, migrate, wait_for_database
from zerog_grpc import setup_logging, setup_tracing, start_metrics_server, wait_for_signal
from zerog_grpc.migrate_command import run_migrate_command
from zerog_grpc.settings import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "quota"
log = logging.getLogger("services.quota")


async def run_migrations(config: Config) -> None:
    await wait_for_database(config.database_url)
    applied = await migrate(config.database_url, SCHEMA, MIGRATIONS)
    log.info("migrations applied", extra={"count": applied})


async def serve(config: Config) -> None:
    await run_migrations(config)
    registry = CollectorRegistry()
    start_metrics_server(config.metrics_port, registry)
    pool = await create_pool(config.database_url, max_size=config.db_pool_size, search_path=SCHEMA)
    try:
        running = await server.start(pool, config, f"[::]:{config.port}", registry=registry)
        log.info("quota serving", extra={"port": running.port})
        await wait_for_signal()
        await running.stop(config.shutdown_grace_seconds, config.shutdown_delay_seconds)
    finally:
        await pool.close()
    log.info("quota stopped")


def main() -> None:
    if sys.argv[1:] == ["migrate"]:
        run_migrate_command("quota", SCHEMA, MIGRATIONS)
        return
    try:
        config = Config.from_env()
    except ConfigError as error:
        sys.exit(f"quota: configuration error: {error}")
    setup_logging("quota", config.log_level)
    setup_tracing("quota")
    match sys.argv[1:]:
        case [] | ["serve"]:
            asyncio.run(serve(config))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
