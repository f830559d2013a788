"""python -m services.broker [serve|migrate]: the broker's only composition root."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.broker import server
from services.broker.config import Config
from zerog_chain import ChainError
from zerog_db import create_pool, migrate, wait_for_database
from zerog_grpc import setup_logging, setup_tracing, start_metrics_server, wait_for_signal
from zerog_grpc.migrate_command import run_migrate_command
from zerog_grpc.settings import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "broker"
log = logging.getLogger("services.broker")


async def run_migrations(database_url: str) -> None:
    await wait_for_database(database_url)
    applied = await migrate(database_url, SCHEMA, MIGRATIONS)
    log.info("migrations applied", extra={"count": applied})


async def serve(config: Config) -> None:
    await run_migrations(config.database_url)
    registry = CollectorRegistry()
    start_metrics_server(config.metrics_port, registry)
    pool = await create_pool(config.database_url, max_size=config.db_pool_size, search_path=SCHEMA)
    try:
        try:
            running = await server.start(pool, config, f"[::]:{config.port}", registry=registry)
        except ChainError as error:
            sys.exit(f"broker: cannot start: {error}")
        log.info(
            "broker serving", extra={"port": running.port, "wallet": running.deps.wallet.address}
        )
        await wait_for_signal()
        await running.stop(config.shutdown_grace_seconds)
    finally:
        await pool.close()
    log.info("broker stopped")


def main() -> None:
    match sys.argv[1:]:
        case [] | ["serve"]:
            try:
                config = Config.from_env()
            except ConfigError as error:
                sys.exit(f"broker: configuration error: {error}")
            setup_logging("broker", config.log_level)
            setup_tracing("broker")
            asyncio.run(serve(config))
        case ["migrate"]:
            run_migrate_command("broker", SCHEMA, MIGRATIONS)
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
